//! Log lines per second per format: one core reading typical pingback lines.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engage_model::cdnlog::{Format, JsonMap, LineReader};
use std::hint::black_box;

const LINES: usize = 1000;

fn lines(format: &str) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|i| {
            let ts = 1_795_269_600_000i64 + i as i64 * 7;
            let q = format!("item=item{}&ts={ts}&il=2&progress={}&event=update", i % 50, (i % 9 + 1) * 10);
            let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
            let line = match format {
                "ncsa" => format!(
                    r#"203.0.113.{} - - [21/Nov/2026:14:00:00 +0000] "GET /ping/dot.gif?{q} HTTP/1.1" 200 43 "https://example.com/watch" "{ua}""#,
                    i % 250
                ),
                "cloudfront" => format!(
                    "2026-11-21\t14:00:00\tLAX1\t392\t192.0.2.{}\tGET\td111111abcdef8.cloudfront.net\t/ping/dot.gif\t200\t-\t{}\t{q}\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\timage/gif\t43\t-\t-",
                    i % 250,
                    ua.replace(' ', "%20")
                ),
                "cloudflare" => format!(
                    r#"{{"ClientIP":"192.0.2.{}","ClientRequestHost":"example.com","ClientRequestMethod":"GET","ClientRequestURI":"/ping/dot.gif?{q}","ClientRequestUserAgent":"{ua}","EdgeEndTimestamp":1795269600010000000,"EdgeResponseBytes":69,"EdgeResponseStatus":200,"EdgeStartTimestamp":1795269600000000000,"RayID":"41ddf1740f67442d"}}"#,
                    i % 250
                ),
                _ => format!(
                    r#"{{"req":{{"url":"/ping/dot.gif?{q}","ua":"{ua}"}},"client":"192.0.2.{}","ts":"2026-11-21T14:00:00Z","status":200}}"#,
                    i % 250
                ),
            };
            line.into_bytes()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cdnlog");
    group.throughput(Throughput::Elements(LINES as u64));
    let json = JsonMap::parse("path=req.url,ua=req.ua,ip=client,time=ts,status=status").expect("valid mapping");
    for (name, format) in [
        ("ncsa", Format::Ncsa),
        ("cloudfront", Format::Cloudfront),
        ("cloudflare", Format::Cloudflare),
        ("json", Format::Json(json)),
    ] {
        let input = lines(name);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut reader = LineReader::new(format.clone());
                if name == "cloudfront" {
                    let _ = reader.read(b"#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end");
                }
                for line in &input {
                    let _ = black_box(reader.read(black_box(line)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
