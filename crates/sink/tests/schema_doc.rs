//! `deploy/clickhouse/schema.md` shows the migrations' SQL as the code has it: its
//! generated section must equal [`schema::sql_listing`], and its prose must name every table
//! and view. `ENGAGE_BLESS=1 cargo test -p engage-sink --test schema_doc` rewrites the
//! generated section after a migration is added.

use engage_sink::clickhouse::schema;
use std::path::Path;

const BEGIN: &str = "<!-- BEGIN GENERATED: schema::sql_listing() -->\n";
const END: &str = "<!-- END GENERATED -->";

fn doc_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/clickhouse/schema.md")
}

#[test]
fn the_schema_document_shows_the_migrations_as_the_code_has_them() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = doc.find(BEGIN).expect("the begin marker") + BEGIN.len();
    let end = doc[start..].find(END).expect("the end marker") + start;
    let listing = schema::sql_listing();
    if doc[start..end] != listing {
        if std::env::var_os("ENGAGE_BLESS").is_some() {
            std::fs::write(&path, format!("{}{listing}{}", &doc[..start], &doc[end..])).expect("rewrite schema.md");
            return;
        }
        panic!("{} is out of date: run ENGAGE_BLESS=1 cargo test -p engage-sink --test schema_doc", path.display());
    }
}

#[test]
fn the_schema_document_explains_every_table_and_view() {
    let doc = std::fs::read_to_string(doc_path()).expect("schema.md");
    let prose = &doc[..doc.find(BEGIN).expect("the begin marker")];
    for name in schema::created_names() {
        assert!(prose.contains(&format!("`{name}`")), "schema.md does not explain `{name}` before the SQL listing");
    }
}
