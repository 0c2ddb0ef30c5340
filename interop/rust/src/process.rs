//! Process identity and liveness (spec section 8).

use std::sync::OnceLock;

use crate::layout;

/// This process's id.
pub fn current_pid() -> u32 {
    std::process::id()
}

/// This process's owner identity (spec 8): its pid in bits 0-31 and its start time modulo 2^32
/// in bits 32-63. Computed once.
pub fn own_identity() -> u64 {
    static ME: OnceLock<u64> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = current_pid();
        layout::owner_word(pid, start_time(pid))
    })
}

/// Whether `pid` can name a process at all: 0 and values of 2^31 or more cannot (`kill` gives
/// them other meanings), so an owner or creator with such a pid is dead (spec 8). Such a pid is
/// never looked up.
pub fn pid_is_valid(pid: u32) -> bool {
    pid != 0 && pid < 1 << 31
}

/// Start time of process `pid` as the spec defines it, or 0 if unknown.
///
/// Linux: field 22 (`starttime`) of `/proc/<pid>/stat`, counting fields after the last `)` (the
/// command name may itself contain `)` and spaces).
#[cfg(target_os = "linux")]
pub fn start_time(pid: u32) -> u64 {
    if !pid_is_valid(pid) {
        return 0;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s))
        .map_or(0, |st| st.start_time)
}

/// Start time is unknown on this platform (0).
#[cfg(not(target_os = "linux"))]
pub fn start_time(_pid: u32) -> u64 {
    0
}

/// The fields of a `/proc/<pid>/stat` line that liveness needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: u8,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

/// Fields 3 and 22 of a `/proc/<pid>/stat` line. After the last `)` comes field 3 (state), so
/// field 22 is the 20th whitespace-separated token there.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut tokens = rest.split_whitespace();
    let state = *tokens.next()?.as_bytes().first()?;
    Some(Stat {
        state,
        start_time: tokens.nth(18)?.parse().ok()?,
    })
}

/// How a recorded start time is compared with the live process's (spec 8): in full for
/// `*_start_time` fields, modulo 2^32 for owner identities. 0 on either side is unknown and
/// compares equal.
#[derive(Debug, Clone, Copy)]
enum Recorded {
    Full(u64),
    Low32(u32),
}

/// Whether the process recorded as `pid` with `recorded` start time is dead (spec 8).
#[cfg(target_os = "linux")]
fn dead(pid: u32, recorded: Recorded) -> bool {
    if !pid_is_valid(pid) {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // No process has the pid (ESRCH shows as ENOENT under /proc).
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(s) => {
            let Some(now) = parse_stat(&s) else {
                return false; // unreadable: unknown, so alive
            };
            // A zombie (exited, not yet reaped) or a task being torn down is dead.
            if matches!(now.state, b'Z' | b'X' | b'x') {
                return true;
            }
            match recorded {
                Recorded::Full(r) => r != 0 && now.start_time != 0 && now.start_time != r,
                Recorded::Low32(r) => r != 0 && now.start_time != 0 && now.start_time as u32 != r,
            }
        }
    }
}

/// Without /proc, liveness is unknown except for pids that name no process.
#[cfg(not(target_os = "linux"))]
fn dead(pid: u32, _recorded: Recorded) -> bool {
    !pid_is_valid(pid)
}

/// Whether process `pid` with recorded start time `start` (a `*_start_time` field, compared in
/// full) is dead: its pid names no process (0, or 2^31 and above), no process has it, the process
/// is a zombie, or it has a different start time (0 on either side compares equal).
pub fn is_dead(pid: u32, start: u64) -> bool {
    dead(pid, Recorded::Full(start))
}

/// Whether the owner identity `owner` (an `owner` word, spec 4.3 and 8) names a dead process, as
/// [`is_dead`] with the start time compared modulo 2^32. `0` (never owned) is dead.
pub fn owner_dead(owner: u64) -> bool {
    dead(
        layout::owner_pid(owner),
        Recorded::Low32(layout::owner_start(owner)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_3_and_22_after_last_paren() {
        let line = "1234 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 19 20";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: b'S',
                start_time: 424242
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn pids_that_name_no_process_are_dead() {
        assert!(is_dead(0, 0));
        assert!(is_dead(1 << 31, 0));
        assert!(is_dead(u32::MAX, 0));
        assert!(owner_dead(0));
        assert!(owner_dead(layout::owner_word(1 << 31, 0)));
        assert!(!pid_is_valid(0) && !pid_is_valid(1 << 31) && pid_is_valid((1 << 31) - 1));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_start_time_is_known_and_alive() {
        let st = start_time(current_pid());
        assert_ne!(st, 0);
        assert!(!is_dead(current_pid(), st));
        assert!(!is_dead(current_pid(), 0), "unknown compares equal");
        assert!(is_dead(current_pid(), st + 1));
        // Owner identities compare the start time modulo 2^32 only.
        assert!(!owner_dead(own_identity()));
        assert!(!owner_dead(layout::owner_word(current_pid(), 0)));
        assert!(owner_dead(layout::owner_word(current_pid(), st + 1)));
        assert!(!owner_dead(layout::owner_word(
            current_pid(),
            st + (1 << 32)
        )));
        assert_eq!(layout::owner_pid(own_identity()), current_pid());
    }

    /// A killed child that has not been reaped yet is a zombie: dead (spec 8).
    #[cfg(target_os = "linux")]
    #[test]
    fn zombie_is_dead() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        let st = start_time(pid);
        assert_ne!(st, 0);
        assert!(!is_dead(pid, st));
        assert!(!owner_dead(layout::owner_word(pid, st)));
        // SIGKILL without reaping: the pid stays in /proc as a zombie.
        child.kill().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let zombie = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parse_stat(&s))
                .is_some_and(|s| s.state == b'Z')
        };
        while !zombie() {
            assert!(
                std::time::Instant::now() < deadline,
                "child never became a zombie"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(is_dead(pid, st));
        assert!(owner_dead(layout::owner_word(pid, st)));
        child.wait().unwrap();
    }
}
