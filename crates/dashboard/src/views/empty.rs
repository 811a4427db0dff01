//! Empty states: the first run (nothing stored yet: how to send a first pingback) and an
//! empty time range.

use crate::html::{escape, link};
use crate::query::ViewQuery;
use std::fmt::Write as _;

/// The item id of the example (the specification's own).
pub const EXAMPLE_ITEM: &str = "s1iTEmiD251a";

/// Where the example sends when the request's Host is unusable.
const FALLBACK_HOST: &str = "127.0.0.1:8080";

/// A shell snippet sending a valid level-1 pingback sequence (player loaded, playback
/// started) to `host`: `initialized` then `firstplay`, progress 0, no `il`.
pub fn first_pingback_script(host: &str) -> String {
    format!(
        "ts=$(date +%s%3N)\n\
         for event in initialized firstplay; do\n  \
         curl -s -o /dev/null -w '%{{http_code}}\\n' -A 'CompanyName/AppName 2.3' \\\n    \
         \"http://{host}/ping/dot.gif?item={EXAMPLE_ITEM}&ts=$ts&progress=0&event=$event\"\n\
         done"
    )
}

/// Only host names, addresses and ports (anything else in a Host header is not used).
pub fn sane_host(host: &str) -> Option<&str> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    ok.then_some(host)
}

pub(super) fn first_run(out: &mut String, host: Option<&str>) {
    let host = host.and_then(sane_host).unwrap_or(FALLBACK_HOST);
    let _ = write!(
        out,
        r#"<section class="empty card" data-empty="first-run" aria-labelledby="empty-h">
<h2 id="empty-h">No engagement yet: send a first pingback</h2>
<p>engage is running and waiting for data. Video players report what they do with
<em>pingbacks</em>, small <code>GET /ping/dot.gif</code> requests. Paste this into a shell to
send the two pingbacks of a level-1 player (the player was loaded, then playback started) for
the item <code>{item}</code>:</p>
<pre><code id="first-pingback">{script}</code></pre>
<p>Each request should print <code>200</code>. This page refreshes by itself: the item shows
up here within a few seconds, with one impression and one play.</p>
<ul>
<li>Players that also send <code>il=2</code> pingbacks (<code>play</code>, <code>update</code> at
every 10%, <code>pause</code>, <code>seekfrom</code>/<code>seekto</code>, <code>stop</code>) get
retention curves, exits and seek hotspots.</li>
<li>Webinar tools send Segment <code>track</code> calls (<code>User Joined</code>,
<code>User Engaged</code>, <code>Stream Enabled</code>…) with a <code>session_id</code> to
<code>/v1/track</code> or <code>/v1/batch</code>.</li>
<li>To see it all move at once, simulate players and webinars:
<code>engage loadgen --target http://{host}</code>.</li>
</ul>
</section>"#,
        item = EXAMPLE_ITEM,
        script = escape(&first_pingback_script(host)),
        host = escape(host),
    );
}

pub(super) fn range(out: &mut String, q: &ViewQuery) {
    let all = link(&[("range", "all"), ("q", &q.search)]);
    let what = if q.search.is_empty() { String::new() } else { format!(" matching “{}”", escape(&q.search)) };
    let _ = write!(
        out,
        r#"<section class="empty card" data-empty="range"><h2>Nothing{what} in this time range</h2>
<p>No item or webinar session{what} has data in {label}. Try a longer range, or <a href="{all}">all time</a>.</p></section>"#,
        label = escape(&q.range.label().to_lowercase()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::pingback::{EventKind, Level, parse_query};

    #[test]
    fn the_first_pingback_script_sends_a_valid_level1_sequence() {
        let script = first_pingback_script("127.0.0.1:9999");
        assert!(script.contains("http://127.0.0.1:9999/ping/dot.gif?"), "{script}");
        let events: Vec<&str> =
            script.split("for event in ").nth(1).unwrap().split(';').next().unwrap().split(' ').collect();
        assert_eq!(events, ["initialized", "firstplay"]);
        let query = script.split("dot.gif?").nth(1).unwrap().split('"').next().unwrap();
        for (i, event) in events.iter().enumerate() {
            let q = query.replace("$ts", "1714564800000").replace("$event", event);
            let p = parse_query(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(p.level, Level::One);
            assert_eq!(p.event, [EventKind::Initialized, EventKind::Firstplay][i]);
            assert_eq!(p.item, EXAMPLE_ITEM);
        }
    }

    #[test]
    fn only_sane_hosts_make_it_into_the_snippet() {
        assert_eq!(sane_host("localhost:8080"), Some("localhost:8080"));
        assert_eq!(sane_host("[::1]:8080"), Some("[::1]:8080"));
        assert_eq!(sane_host("evil\"; rm -rf /"), None);
        assert_eq!(sane_host(""), None);
        let mut out = String::new();
        first_run(&mut out, Some("<b>"));
        assert!(out.contains("http://127.0.0.1:8080/ping/dot.gif") && !out.contains("<b>"));
        assert!(out.contains("&#39;%{http_code}\\n&#39;"), "quotes are escaped in HTML: {out}");
    }
}
