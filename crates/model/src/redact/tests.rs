use super::*;

#[test]
fn ip_and_email_addresses_are_hidden_in_text() {
    let cases = [
        ("client 203.0.113.9 said hi", "client <ip> said hi"),
        ("from 203.0.113.9:51234", "from <ip>"),
        ("v6 2001:db8::1 and [2001:db8::2]:443", "v6 <ip> and [<ip>]:443"),
        ("mapped ::ffff:198.51.100.7", "mapped <ip>"),
        ("ip=198.51.100.7,x", "ip=<ip>,x"),
        ("client_ip:198.51.100.7", "client_ip:<ip>"),
        ("mail jane.doe+x@example.com now", "mail <email> now"),
        ("encoded jane%40example.com", "encoded <email>"),
        ("\"ClientIP\":\"192.0.2.1\"", "\"ClientIP\":\"<ip>\""),
        // Not addresses: kept.
        ("ts 10/Oct/2000:13:55:36 -0700 item=abc progress=30", "ts 10/Oct/2000:13:55:36 -0700 item=abc progress=30"),
        ("version 1.2.3 of 12:30", "version 1.2.3 of 12:30"),
    ];
    for (input, want) in cases {
        assert_eq!(redact_text(input), want, "{input}");
    }
}

#[test]
fn a_pingback_query_keeps_the_specifications_values_only() {
    let e = Excerpt::of_query("item=abc&ts=5&email=jane%40example.com&token=s3cret&event=play&ip=203.0.113.9");
    assert_eq!(e.as_str(), "item=abc&ts=5&email=…&token=…&event=play&ip=…");
    // A kept parameter still has its addresses hidden.
    assert_eq!(Excerpt::of_query("item=jane@example.com&vid=10.0.0.1").as_str(), "item=<email>&vid=<ip>");
    assert!(!e.truncated());
}

#[test]
fn a_log_line_loses_its_client_and_its_query_values() {
    let line = br#"203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET /ping/dot.gif?item=x&ts=1&uid=jane@example.com HTTP/1.1" 200 43 "https://site.example/?email=jane%40example.com" "Mozilla/5.0""#;
    let e = Excerpt::of_log_line(line);
    let text = e.as_str();
    assert!(!text.contains("203.0.113.9") && !text.contains("jane"), "{text}");
    assert!(text.starts_with("<ip> - - [10/Oct/2024:13:55:36 +0000] \"GET /ping/dot.gif?item=x&ts=1&uid=…"), "{text}");
}

#[test]
fn a_json_body_keeps_its_shape_not_its_values() {
    let body = br#"{"type":"identify","userId":"u-42","traits":{"email":"jane@example.com","name":"Jane","age":41,"tags":["a","b"]},"context":{"ip":"203.0.113.9","page":{"url":"https://x"}}}"#;
    let e = Excerpt::of_json(body);
    let text = e.as_str();
    for personal in ["u-42", "jane", "Jane", "41", "203.0.113.9", "https://x"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    assert_eq!(
        text,
        r#"{"context":{"ip":"…","page":{1 keys}},"traits":{"age":0,"email":"…","name":"…","tags":[2 items]},"type":"identify","userId":"…"}"#
    );
    assert_eq!(Excerpt::of_json(b"{not json jane@example.com").as_str(), "<26 bytes, not JSON>");
    // An event name is kept, but not an address inside it.
    assert_eq!(Excerpt::of_json(br#"{"event":"Mail jane@example.com"}"#).as_str(), r#"{"event":"Mail <email>"}"#);
}

#[test]
fn excerpts_and_details_are_short() {
    let long = "item=".to_owned() + &"x".repeat(5000);
    let e = Excerpt::of_query(&long);
    assert!(e.truncated());
    assert_eq!(e.as_str().chars().count(), MAX_EXCERPT_CHARS);
    assert!(e.as_str().ends_with(HIDDEN));
    let e = Excerpt::of_log_line("é".repeat(10_000).as_bytes());
    assert_eq!(e.as_str().chars().count(), MAX_EXCERPT_CHARS);
    let d = detail(&format!("bad value {} from 203.0.113.9", "y".repeat(500)));
    assert_eq!(d.chars().count(), MAX_DETAIL_CHARS);
    assert_eq!(detail("`item` is not valid: jane@example.com"), "`item` is not valid: <email>");
    assert_eq!(Excerpt::of_query("item=abc").as_str(), "item=abc");
    assert_eq!(Excerpt::none().as_str(), "");
}

#[test]
fn an_address_at_the_cut_is_hidden_not_half_shown() {
    // Redaction comes before the cut: the raw text would be cut inside the address.
    let text = format!("{}203.0.113.9", "a ".repeat(78));
    let e = Excerpt::of_log_line(text.as_bytes());
    assert!(e.as_str().ends_with(IP) && !e.truncated(), "{}", e.as_str());
}

#[test]
fn a_log_line_with_an_encoded_address_in_its_query() {
    let line = r#"192.0.2.7 - - [21/Nov/2026:14:00:00 +0000] "GET /ping/dot.gif?item=X&ts=1&progress=7&event=firstplay&email=jane%40example.com HTTP/1.1" 200 43 "https://site.example/?mail=jane@example.com" "Mozilla/5.0""#;
    let e = Excerpt::of_log_line(line.as_bytes());
    assert!(!e.as_str().contains("jane") && !e.as_str().contains("192.0.2.7"), "{}", e.as_str());
}
