//! The layers point one way: no import cycle among files or among top-level
//! modules (`../shared/tools/module-cycles`, beside the repository as CI
//! checks it out), and no source file past 400 lines.

use std::path::Path;

#[test]
fn no_import_cycle_among_files_or_top_level_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tool = root.join("../shared/tools/module-cycles");
    assert!(tool.exists(), "the shared tools sit beside the repository: {}", tool.display());
    let out = std::process::Command::new("python3").arg(&tool).arg(root.join("src")).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "import cycles:\n{report}");
    assert!(report.contains("0 cycles among the") && report.contains("0 cycles among "), "{report}");
}

#[test]
fn no_source_file_is_past_400_lines() {
    fn walk(dir: &Path, long: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, long);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > 400 {
                    long.push(format!("{} ({lines} lines)", path.display()));
                }
            }
        }
    }
    let mut long = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut long);
    assert!(long.is_empty(), "split these: {long:?}");
}
