//! Parser tests: documented sample lines of each format, malformed, truncated and hostile
//! lines (each a counted reason), and "never panics" properties.

use super::*;
use proptest::prelude::*;

fn read(format: Format, line: &str) -> Result<Parsed, LineError> {
    LineReader::new(format).read(line.as_bytes())
}

fn pingback(p: Result<Parsed, LineError>) -> LogRequest {
    match p {
        Ok(Parsed::Pingback(r)) => r,
        other => panic!("not a pingback: {other:?}"),
    }
}

fn reason(p: Result<Parsed, LineError>) -> &'static str {
    match p {
        Ok(Parsed::Skipped(s)) => s.as_str(),
        Err(e) => e.reason.as_str(),
        Ok(Parsed::Pingback(r)) => panic!("unexpectedly a pingback: {r:?}"),
    }
}

// ---- NCSA ----

/// The combined-format example of the Apache HTTP Server documentation (mod_log_config /
/// "Log Files", Combined Log Format).
const APACHE_DOC: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav4.08)""#;

#[test]
fn ncsa_documented_example_reads_field_by_field() {
    let r = ncsa::parse(APACHE_DOC.as_bytes()).expect("reads");
    assert_eq!(r.client_ip.to_string(), "127.0.0.1");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/apache_pb.gif", ""));
    assert_eq!(r.status, 200);
    assert_eq!(r.user_agent, "Mozilla/4.08 [en] (Win98; I ;Nav4.08)");
    // 2000-10-10T20:55:36Z
    assert_eq!(r.timestamp_ms, 971_211_336_000);
    assert_eq!(reason(read(Format::Ncsa, APACHE_DOC)), "not_pingback_path");
}

#[test]
fn ncsa_pingback_line() {
    let line = r#"203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] "GET /ping/dot.gif?item=X&ts=1795269600000&progress=0&event=firstplay HTTP/1.1" 200 43 "https://example.com/watch" "Acme/Player 1.0" "-""#;
    let r = pingback(read(Format::Ncsa, line));
    assert_eq!(r.query, "item=X&ts=1795269600000&progress=0&event=firstplay");
    assert_eq!(r.timestamp_ms, 1_795_269_600_000);
    assert_eq!(r.user_agent, "Acme/Player 1.0");
    // common log format (Fastly's default): no user agent
    let common = r#"203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] "HEAD /ping/dot.gif?item=X HTTP/1.1" 304 0"#;
    assert_eq!(pingback(read(Format::Ncsa, common)).user_agent, "");
    // absolute-form targets and nginx escapes
    let abs = r#"203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] "GET http://cdn.example/ping/dot.gif?a=1 HTTP/1.1" 200 43 "-" "say \"hi\" \x41""#;
    let r = pingback(read(Format::Ncsa, abs));
    assert_eq!((r.path.as_str(), r.user_agent.as_str()), ("/ping/dot.gif", "say \"hi\" A"));
}

#[test]
fn ncsa_skips_and_errors_are_counted_reasons() {
    let ok = |req: &str, status: &str| {
        format!(r#"203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] "{req}" {status} 43 "-" "ua""#)
    };
    assert_eq!(reason(read(Format::Ncsa, &ok("POST /ping/dot.gif?a HTTP/1.1", "200"))), "method");
    assert_eq!(reason(read(Format::Ncsa, &ok("GET /ping/dot.gif?a HTTP/1.1", "404"))), "status");
    assert_eq!(reason(read(Format::Ncsa, &ok("-", "400"))), "not_pingback_path");
    assert_eq!(reason(read(Format::Ncsa, &ok("GET /ping/dot.gif HTTP/1.1", "2000"))), "invalid_status");
    assert_eq!(reason(read(Format::Ncsa, "")), "blank");
    assert_eq!(reason(read(Format::Ncsa, "not a log line")), "invalid_ip");
    assert_eq!(
        reason(read(Format::Ncsa, "203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] \"GET /ping/dot.g")),
        "malformed_line"
    );
    assert_eq!(
        reason(read(Format::Ncsa, "203.0.113.9 - - [99/Nov/2026:14:00:00 +0000] \"GET / HTTP/1.1\" 200 1")),
        "invalid_timestamp"
    );
    assert_eq!(reason(read(Format::Ncsa, "203.0.113.9 - - [21/Nov/2026:14:00:00 +0000")), "malformed_line");
    // invalid UTF-8 in the target; control characters and bytes in the user agent
    let bad = b"203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] \"GET /ping/dot.gif?\xff\xfe HTTP/1.1\" 200 43 \"-\" \"a\x01\xc3\x28\"";
    assert_eq!(reason(LineReader::new(Format::Ncsa).read(bad)), "invalid_utf8");
    let ctl =
        b"203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] \"GET /ping/dot.gif?a HTTP/1.1\" 200 43 \"-\" \"a\x01\xc3\x28\"";
    assert_eq!(pingback(LineReader::new(Format::Ncsa).read(ctl)).user_agent, "", "as live: not visible ASCII");
    let huge =
        format!("203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] \"GET /{} HTTP/1.1\" 200 1", "a".repeat(MAX_LINE_BYTES));
    assert_eq!(reason(read(Format::Ncsa, &huge)), "line_too_long");
}

// ---- CloudFront ----

/// The header and an example line of the CloudFront "Standard logging reference" (log file
/// fields), tab-separated as delivered.
const CLOUDFRONT_HEADER: &str = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";
const CLOUDFRONT_DOC_LINE: &str = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)%20Chrome/78.0.3904.108%20Safari/537.36\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-";

fn cloudfront_reader() -> LineReader {
    let mut r = LineReader::new(Format::Cloudfront);
    for h in CLOUDFRONT_HEADER.lines() {
        assert_eq!(r.read(h.as_bytes()), Ok(Parsed::Skipped(SkipReason::Header)));
    }
    r
}

#[test]
fn cloudfront_documented_example_reads_field_by_field() {
    let mut r = cloudfront_reader();
    let line = CLOUDFRONT_DOC_LINE.as_bytes();
    let mut fields = cloudfront::Columns::default();
    for h in CLOUDFRONT_HEADER.lines() {
        assert_eq!(fields.parse(h.as_bytes()), Ok(None));
    }
    let req = fields.parse(line).expect("reads").expect("a data line");
    assert_eq!(req.client_ip.to_string(), "192.0.2.100");
    assert_eq!((req.method.as_str(), req.path.as_str(), req.status), ("GET", "/index.html", 200));
    assert!(req.user_agent.starts_with("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"), "{}", req.user_agent);
    assert_eq!(req.timestamp_ms, 1_575_493_351_000);
    assert_eq!(reason(r.read(line)), "not_pingback_path");

    let ping = CLOUDFRONT_DOC_LINE.replace("/index.html", "/ping/dot.gif").replacen(
        "\t-\t-\tHit",
        "\titem=X&ts=1575493351000&progress=0&event=firstplay\t-\tHit",
        1,
    );
    let req = pingback(r.read(ping.as_bytes()));
    assert_eq!(req.query, "item=X&ts=1575493351000&progress=0&event=firstplay");
}

#[test]
fn cloudfront_needs_its_header_and_survives_bad_lines() {
    assert_eq!(reason(read(Format::Cloudfront, CLOUDFRONT_DOC_LINE)), "no_fields_header");
    let mut r = LineReader::new(Format::Cloudfront);
    assert_eq!(reason(r.read(b"#Fields: date time")), "missing_field");
    let mut r = cloudfront_reader();
    assert_eq!(reason(r.read(CLOUDFRONT_DOC_LINE.replace("192.0.2.100", "x\u{0}y").as_bytes())), "invalid_ip");
    assert_eq!(reason(r.read(b"2019-12-04\t21:02:31\tLAX1")), "missing_field");
    assert_eq!(reason(r.read(b"2019-12-04")), "missing_field");
    assert_eq!(reason(r.read(CLOUDFRONT_DOC_LINE.replace("21:02:31", "25:02:31").as_bytes())), "invalid_timestamp");
    // 000: the viewer went away before the answer
    assert_eq!(reason(r.read(CLOUDFRONT_DOC_LINE.replace("\t200\t", "\t000\t").as_bytes())), "not_pingback_path");
    let broken = CLOUDFRONT_DOC_LINE.replace("/index.html", "/ping/dot.gif").replace("Mozilla/5.0%20", "%zz%2");
    assert!(pingback(r.read(broken.as_bytes())).user_agent.starts_with("%zz%2"), "broken escapes stay as they are");
    // a later header with other columns takes over
    assert_eq!(
        r.read(b"#Fields: c-ip date time cs-method cs-uri-stem sc-status"),
        Ok(Parsed::Skipped(SkipReason::Header))
    );
    let req = pingback(r.read(b"192.0.2.1\t2019-12-04\t21:02:31\tGET\t/ping/dot.gif\t200"));
    assert_eq!((req.query.as_str(), req.user_agent.as_str()), ("", ""));
}

// ---- Cloudflare ----

/// The JSON-lines example of Cloudflare's logs API (`logshare` / Logpull response schema).
const CLOUDFLARE_DOC: &str =
    r#"{"ClientIP":"192.0.2.1","RayID":"41ddf1740f67442d","EdgeStartTimestamp":1526810289280000000}"#;

#[test]
fn cloudflare_documented_examples() {
    // the documented minimal line has no request URI: a counted reason, not a crash
    assert_eq!(reason(read(Format::Cloudflare, CLOUDFLARE_DOC)), "missing_field");
    // the default http_requests field set of the Logpush examples
    // (ClientIP,ClientRequestHost,ClientRequestMethod,ClientRequestURI,EdgeEndTimestamp,
    //  EdgeResponseBytes,EdgeResponseStatus,EdgeStartTimestamp,RayID), with a pingback URI
    let line = r#"{"ClientIP":"192.0.2.1","ClientRequestHost":"example.com","ClientRequestMethod":"GET","ClientRequestURI":"/ping/dot.gif?item=X&ts=1526810289280&progress=0&event=firstplay","EdgeEndTimestamp":1526810289290000000,"EdgeResponseBytes":69,"EdgeResponseStatus":200,"EdgeStartTimestamp":1526810289280000000,"RayID":"41ddf1740f67442d","ClientRequestUserAgent":"Acme/Player 1.0"}"#;
    let r = pingback(read(Format::Cloudflare, line));
    assert_eq!(r.timestamp_ms, 1_526_810_289_280);
    assert_eq!((r.client_ip.to_string().as_str(), r.user_agent.as_str()), ("192.0.2.1", "Acme/Player 1.0"));
    assert_eq!(r.query, "item=X&ts=1526810289280&progress=0&event=firstplay");
    // RFC 3339 and unix-seconds timestamp formats
    let rfc = line.replace("1526810289280000000,\"RayID", "\"2018-05-20T09:58:09.28Z\",\"RayID");
    assert_eq!(pingback(read(Format::Cloudflare, &rfc)).timestamp_ms, 1_526_810_289_280);
    let secs = line.replace("1526810289280000000,\"RayID", "1526810289,\"RayID");
    assert_eq!(pingback(read(Format::Cloudflare, &secs)).timestamp_ms, 1_526_810_289_000);
    assert_eq!(reason(read(Format::Cloudflare, &line.replace(":200,", ":503,"))), "status");
    assert_eq!(reason(read(Format::Cloudflare, &line.replace("\"GET\"", "\"POST\""))), "method");
    assert_eq!(reason(read(Format::Cloudflare, &line[..40])), "invalid_json");
    assert_eq!(reason(read(Format::Cloudflare, "[1,2]")), "invalid_json");
    assert_eq!(reason(read(Format::Cloudflare, &line.replace("192.0.2.1", "999.1.1.1"))), "invalid_ip");
    assert_eq!(reason(read(Format::Cloudflare, &line.replace(":200,", ":\"ok\","))), "invalid_status");
    assert_eq!(
        reason(read(Format::Cloudflare, &line.replace("1526810289280000000,\"RayID", "\"yesterday\",\"RayID"))),
        "invalid_timestamp"
    );
    assert_eq!(reason(LineReader::new(Format::Cloudflare).read(b"{\"ClientIP\":\"\xff\"}")), "invalid_json");
}

// ---- JSON mapping ----

#[test]
fn json_mapping_reads_nested_fields() {
    let map = JsonMap::parse("path=req.url, ip=client, ua=req.headers.ua, time=ts, status=code, method=req.verb")
        .expect("valid mapping");
    let line = r#"{"req":{"url":"https://cdn.example/ping/dot.gif?item=X&ts=1","verb":"GET","headers":{"ua":"Acme/Player 1.0"}},"client":"2001:db8::1","ts":"2026-11-21T14:00:00+01:00","code":"304"}"#;
    let r = pingback(read(Format::Json(map.clone()), line));
    assert_eq!((r.path.as_str(), r.query.as_str(), r.status), ("/ping/dot.gif", "item=X&ts=1", 304));
    assert_eq!(r.timestamp_ms, 1_795_266_000_000);
    assert_eq!(r.client_ip.to_string(), "2001:db8::1");
    assert_eq!(reason(read(Format::Json(map.clone()), r#"{"client":"192.0.2.1","ts":1}"#)), "missing_field");
    assert_eq!(reason(read(Format::Json(map), "\"just a string\"")), "invalid_json");
    // separate query, NCSA time, defaults for status and method
    let map = JsonMap::parse("path=p,query=q,ip=ip,time=t").expect("valid");
    let r = pingback(read(
        Format::Json(map),
        r#"{"p":"/ping/dot.gif","q":"item=Y","ip":"192.0.2.1","t":"21/Nov/2026:14:00:00 +0000"}"#,
    ));
    assert_eq!((r.query.as_str(), r.status, r.method.as_str(), r.user_agent.as_str()), ("item=Y", 200, "GET", ""));
}

#[test]
fn json_mapping_errors_say_what_is_wrong() {
    assert_eq!(JsonMap::parse("ip=a,time=b"), Err(JsonMapError::Missing("path")));
    assert_eq!(JsonMap::parse("path=a,ip=b,time=c,colour=d"), Err(JsonMapError::UnknownKey("colour".into())));
    assert_eq!(JsonMap::parse("path=a,path=b"), Err(JsonMapError::Duplicate("path".into())));
    assert!(matches!(JsonMap::parse("path=a..b,ip=b,time=c"), Err(JsonMapError::NotAPair(_))));
    assert!(matches!(JsonMap::parse(&"x".repeat(5000)), Err(JsonMapError::TooLong)));
    assert!(matches!(Format::from_name("json", None), Err(FormatError::MissingMap)));
    assert!(matches!(Format::from_name("w3c", None), Err(FormatError::Unknown(_))));
    assert_eq!(Format::from_name("ncsa", None), Ok(Format::Ncsa));
}

// ---- never panics ----

fn any_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        // near-valid lines with random bytes spliced in
        (proptest::collection::vec(any::<u8>(), 0..40), 0usize..300).prop_map(|(junk, at)| {
            let mut base = CLOUDFRONT_DOC_LINE.as_bytes().to_vec();
            base.extend_from_slice(APACHE_DOC.as_bytes());
            let at = at.min(base.len());
            base.splice(at..at, junk);
            base
        }),
    ]
}

proptest! {
    #[test]
    fn ncsa_never_panics(line in any_line()) {
        let _ = LineReader::new(Format::Ncsa).read(&line);
        let mut s = APACHE_DOC.as_bytes().to_vec();
        s.truncate(line.len() % (s.len() + 1));
        let _ = LineReader::new(Format::Ncsa).read(&s);
    }

    #[test]
    fn cloudfront_never_panics(line in any_line()) {
        let _ = cloudfront_reader().read(&line);
        let _ = LineReader::new(Format::Cloudfront).read(&line);
    }

    #[test]
    fn cloudflare_never_panics(line in any_line(), cut in 0usize..400) {
        let _ = LineReader::new(Format::Cloudflare).read(&line);
        let doc = CLOUDFLARE_DOC.as_bytes();
        let _ = LineReader::new(Format::Cloudflare).read(&doc[..cut.min(doc.len())]);
    }

    #[test]
    fn json_map_never_panics(line in any_line(), spec in "[a-z=.,]{0,40}") {
        let map = JsonMap::parse("path=a.b,ip=c,time=d,status=e,ua=f").expect("valid");
        let _ = LineReader::new(Format::Json(map)).read(&line);
        if let Ok(map) = JsonMap::parse(&spec) {
            let _ = map.parse_line(br#"{"a":{"b":"/ping/dot.gif?x"},"c":"1.2.3.4","d":1e300}"#);
        }
    }
}
