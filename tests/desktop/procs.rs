//! The processes of a test's desktop, read from /proc: who started whom.

use std::collections::HashMap;

use super::SPOOL;

/// Every process's parent, from /proc.
fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // The fields after the command name, which may hold spaces and ')'.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            map.insert(pid, ppid);
        }
    }
    map
}

/// `root` and all its descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, p)| **p == parent).map(|(c, _)| *c));
        i += 1;
    }
    found
}

/// A process's command name (cut to 15 bytes by the kernel).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The `spool` app that tauri-driver (through WebKitWebDriver) started.
pub fn app_pid(driver: u32) -> Option<u32> {
    let exe = std::fs::canonicalize(SPOOL).ok()?;
    tree(driver)
        .into_iter()
        .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == exe))
}

/// The app's WebKit web-content processes (`comm` is cut to 15 bytes).
pub fn web_processes(app: u32) -> Vec<u32> {
    tree(app)
        .into_iter()
        .filter(|pid| comm(*pid).starts_with("WebKitWebProces"))
        .collect()
}
