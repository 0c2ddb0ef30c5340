//! Process identity and liveness (spec section 8).

/// This process's id.
pub fn current_pid() -> u32 {
    std::process::id()
}

/// Start time of process `pid` as the spec defines it, or 0 if unknown.
///
/// Linux: field 22 (`starttime`) of `/proc/<pid>/stat`, counting fields after the last `)` (the
/// command name may itself contain `)` and spaces).
#[cfg(target_os = "linux")]
pub fn start_time(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat_start_time(&s))
        .unwrap_or(0)
}

/// Start time is unknown on this platform (0).
#[cfg(not(target_os = "linux"))]
pub fn start_time(_pid: u32) -> u64 {
    0
}

/// Field 22 of a `/proc/<pid>/stat` line. After the last `)` comes field 3 (state), so field 22 is
/// the 20th whitespace-separated token there.
pub fn parse_stat_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` with recorded start time `start` is dead: no process has the pid, or
/// the process with that pid has a different nonzero start time. Unknown is "alive".
#[cfg(target_os = "linux")]
pub fn is_dead(pid: u32, start: u64) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(s) => {
            let now = parse_stat_start_time(&s).unwrap_or(0);
            start != 0 && now != 0 && now != start
        }
    }
}

/// Without /proc liveness is unknown: report alive.
#[cfg(not(target_os = "linux"))]
pub fn is_dead(_pid: u32, _start: u64) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_field_22_after_last_paren() {
        let line = "1234 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 19 20";
        assert_eq!(parse_stat_start_time(line), Some(424242));
        assert_eq!(parse_stat_start_time("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_start_time_is_known_and_alive() {
        let st = start_time(current_pid());
        assert_ne!(st, 0);
        assert!(!is_dead(current_pid(), st));
        assert!(is_dead(current_pid(), st + 1));
    }
}
