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
