//! The classifier on real user agents: crawlers, monitors and headless browsers are bots;
//! browsers, media players and app agents are people.

use super::*;

const BOTS: [&str; 16] = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/120.0.6099.216 Safari/537.36",
    "Googlebot-Video/1.0",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "python-requests/2.31.0",
    "Wget/1.21.4",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1) okhttp/4.12.0",
];

const PEOPLE: [&str; 16] = [
    "AppleCoreMedia/1.0.0.21A329 (iPhone; U; CPU OS 17_0 like Mac OS X; en_us)",
    "AppleCoreMedia/1.0.0.19H12 (Apple TV; U; CPU OS 15_6 like Mac OS X; en_us)",
    "ExoPlayerLib/2.18.1",
    "com.example.player/3.1 (Linux;Android 13) ExoPlayerLib/2.19.1",
    "okhttp/4.12.0",
    "stagefright/1.2 (Linux;Android 9)",
    "Roku/DVP-12.5 (12.5.0.4178-AE)",
    "AppleTV11,1/11.1",
    "Vendor/App 1.2",
    "Vendor/App 1.2 (iPhone; iOS 17.0; Scale/3.00)",
    "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230805.001)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36 Vendor/App 1.2",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
];

#[test]
fn every_vendored_pattern_compiles() {
    let c = &*CLASSIFIER;
    assert!(unusable_patterns().is_empty(), "{:?}", c.skipped);
    assert!(c.rules.len() > 200, "the list has {} patterns", c.rules.len());
    assert!(c.players.is_some());
}

#[test]
fn crawlers_monitors_and_headless_browsers_are_bots() {
    for ua in BOTS {
        assert!(is_bot(ua), "{ua}");
    }
}

#[test]
fn browsers_players_and_apps_are_people() {
    for ua in PEOPLE {
        assert!(!is_bot(ua), "{ua}");
    }
    assert!(!is_bot(""), "no agent says nothing");
}

#[test]
fn lookarounds_are_honoured() {
    // `(?<!lib)http`, `java(?!;)`, `(?<! cu)bots?(?:\b|_)`, `(?<!cam)scan`
    assert!(is_bot("Mozilla/5.0 myhttpclient"));
    assert!(!is_bot("Mozilla/5.0 (X11; Linux x86_64) libhttp/1.0 Gecko/20100101 Firefox/121.0"));
    assert!(is_bot("Mozilla/5.0 (Windows NT 10.0) java/17"));
    assert!(!is_bot("Mozilla/5.0 (X11; Linux x86_64; java;) Gecko/20100101 Firefox/121.0"));
    assert!(!is_bot("Mozilla/5.0 (X11; Linux x86_64; cubot) Gecko/20100101 Firefox/121.0"));
    assert!(!is_bot("Mozilla/5.0 (X11; Linux x86_64; camscanner) Gecko/20100101 Firefox/121.0"));
    assert!(is_bot("Mozilla/5.0 (X11; Linux x86_64; virusscanner) Gecko/20100101 Firefox/121.0"));
}

#[test]
fn dashes_after_class_escapes_are_literal() {
    assert_eq!(literal_class_dashes(r"[\w\d-.]+-[a-z]"), r"[\w\d\-.]+-[a-z]");
    assert_eq!(literal_class_dashes(r"[\w-]"), r"[\w-]");
}

#[test]
fn splitting_lookarounds() {
    assert_eq!(
        split_lookarounds("(?<! channel/|google/)google(?!(?:wv|app|/google| pixel))"),
        (Some(" channel/|google/"), "google", Some("(?:wv|app|/google| pixel)"))
    );
    assert_eq!(split_lookarounds("(?:^|[^g])news(?!sapphire)"), (None, "(?:^|[^g])news", Some("sapphire")));
    assert_eq!(split_lookarounds("crawl"), (None, "crawl", None));
    assert_eq!(split_lookarounds(r"^[<\(;]"), (None, r"^[<\(;]", None));
}

/// Agents and what isbot itself (the JavaScript package, 5.2.3) answers for them: the
/// translation of its patterns to the `regex` crate must agree (none of these holds a player
/// token, so the allow-list does not apply). Regenerate with the package when refreshing.
const ISBOT_ANSWERS: [(&str, bool); 36] = [
    ("engage-loadgen/0.1.0 viewer-3", false),
    ("engage-e2e", true),
    ("ureq/3.1.2", true),
    ("Acme/Player 2.0 (kafka-viewer-3)", false),
    ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", true),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", true),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        true,
    ),
    ("Mozilla/5.0 (compatible; Google-InspectionTool/1.0)", true),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 GoogleApp/15.0",
        false,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/444.0.0.33.118;]",
        false,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 312.0.0.22.114",
        false,
    ),
    ("Twitterbot/1.0", true),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        false,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
        false,
    ),
    ("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)", false),
    (
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
        false,
    ),
    (
        "Mozilla/5.0 (Linux; Android 9; AFTMM) AppleWebKit/537.36 (KHTML, like Gecko) Silk/112.4.1 like Chrome/112.0.5615.213 Safari/537.36",
        false,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.133 Safari/537.36 Chrome-Lighthouse",
        true,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0 cypress/12.0", true),
    ("Java/17.0.2", true),
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", true),
    ("axios/1.6.2", true),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", true),
    ("Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", true),
    ("Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)", true),
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", true),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        true,
    ),
    (
        "Mozilla/5.0 (Linux; Android 12; SM-T870) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 news-reader",
        true,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        false,
    ),
    ("libhttp/1.0", true),
    ("Mozilla/5.0 (X11; U; Linux i686; en-US) camscanner", false),
    ("Mozilla/5.0 (compatible; NewsSapphire)", false),
    ("Roku4640X/DVP-7.70 (297.70E04154A)", false),
    (
        "Mozilla/5.0 (CrKey armv7l 1.5.16041) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/31.0.1650.0 Safari/537.36",
        false,
    ),
];

#[test]
fn the_translated_list_answers_as_isbot_does() {
    let differ: Vec<&str> = ISBOT_ANSWERS.iter().filter(|(ua, bot)| is_bot(ua) != *bot).map(|(ua, _)| *ua).collect();
    assert!(differ.is_empty(), "{differ:#?}");
}
