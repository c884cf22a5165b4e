//! `cargo bench`: the performance budget of DESIGN §9. No benchmark crate:
//! each section measures a figure and a reference in the same run and prints
//! their ratio next to the budget. Sections live in their own files.
//!
//!     cargo bench --offline                # every section
//!     cargo bench --offline -- journal     # sections whose name contains "journal"
//!     cargo bench --offline -- reconcile-tasks   # lanes at realistic task durations

mod authz;
mod journal;
mod journal_growth;
mod provision;
mod reconcile;

fn main() {
    if let Some(dir) = std::env::var_os(journal_growth::OPEN_CHILD_ENV) {
        journal_growth::open_child(std::path::Path::new(&dir));
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sections: &[(&str, fn())] = &[
        ("authz", authz::run),
        ("journal", journal::run),
        ("journal-growth", journal_growth::run),
        ("reconcile", reconcile::run),
        ("reconcile-tasks", reconcile::tasks::run),
        ("provision", provision::run),
    ];
    for (name, run) in sections {
        if filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())) {
            println!("== {name}");
            run();
        }
    }
}
