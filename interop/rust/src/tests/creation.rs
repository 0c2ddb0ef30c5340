//! Creating and attaching (spec 5.1) and the name grammar at the API (spec 9).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::conformance::ConformanceEvent;
use crate::error::Error;
use crate::event::EventType;
use crate::layout as l;
use crate::mapping::Mapping;
use crate::producer::Producer;
use crate::segment::{self, Backing, Config, ProducerMode, Segment};

/// A path under the temporary directory, removed (file or directory tree) on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(what: &str) -> TempPath {
        let p = std::env::temp_dir().join(format!("rwrs-{}-{what}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where POSIX shared-memory objects live on Linux, to plant things under a segment name.
#[cfg(target_os = "linux")]
fn shm_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm{name}"))
}

/// Spec 5.1 step 2: the creator fills producer entry 0 in both modes: its owner identity, a
/// heartbeat, and state active with generation 1 (`0x101`).
#[test]
fn the_creator_takes_producer_entry_0_in_both_modes() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, mode)).unwrap();
        let e = p.segment().producer_entry(0);
        assert_eq!(e.state().load(Ordering::SeqCst), 0x101, "{mode:?}");
        assert_eq!(
            e.owner().load(Ordering::SeqCst),
            crate::process::own_identity(),
            "{mode:?}"
        );
        assert_ne!(e.heartbeat().load(Ordering::SeqCst), 0, "{mode:?}");
        assert_eq!(p.generation(), 1);
    }
}

#[test]
fn creation_is_exclusive() {
    let g = ShmGuard::new();
    let _p = Producer::<u64>::create(Backing::Shm(&g.0), &Config::default()).unwrap();
    let again = Producer::<u64>::create(Backing::Shm(&g.0), &Config::default());
    assert!(
        matches!(again, Err(Error::Io(ref e)) if e.kind() == std::io::ErrorKind::AlreadyExists)
    );
    let path = TempPath::new("excl.seg");
    let _f = Producer::<u64>::create(Backing::File(&path.0), &Config::default()).unwrap();
    assert!(matches!(
        Producer::<u64>::create(Backing::File(&path.0), &Config::default()),
        Err(Error::Io(ref e)) if e.kind() == std::io::ErrorKind::AlreadyExists
    ));
}

/// Spec 5.1: attachers open with `O_NOFOLLOW` and refuse anything but a regular file.
#[cfg(target_os = "linux")]
#[test]
fn attach_refuses_symlinks_and_non_regular_files() {
    // A symbolic link to a real segment file, under a segment path and under a shm name.
    let target = TempPath::new("target.seg");
    let _p = Producer::<u64>::create(Backing::File(&target.0), &Config::default()).unwrap();
    let link = TempPath::new("link.seg");
    std::os::unix::fs::symlink(&target.0, &link.0).unwrap();
    let t = Duration::from_millis(50);
    assert!(Segment::attach_path(&target.0, t).is_ok());
    assert!(matches!(
        Segment::attach_path(&link.0, t),
        Err(Error::NotRegularFile)
    ));
    let shm_link = ShmGuard::new();
    std::os::unix::fs::symlink(&target.0, shm_path(&shm_link.0)).unwrap();
    assert!(matches!(
        Segment::attach_shm(&shm_link.0, t),
        Err(Error::NotRegularFile)
    ));
    // Creating over a planted link fails (O_EXCL) and leaves the link's target alone.
    assert!(Producer::<u64>::create(Backing::Shm(&shm_link.0), &Config::default()).is_err());
    assert!(Segment::attach_path(&target.0, t).is_ok());
    // A FIFO (opening it must not block) and a directory.
    let fifo = TempPath::new("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo.0).status();
    if made.is_ok_and(|s| s.success()) {
        assert!(matches!(
            Segment::attach_path(&fifo.0, t),
            Err(Error::NotRegularFile)
        ));
    } else {
        eprintln!("mkfifo unavailable: FIFO case skipped");
    }
    let dir = TempPath::new("dir");
    std::fs::create_dir(&dir.0).unwrap();
    assert!(Segment::attach_path(&dir.0, t).is_err());
}

/// Spec 5.1 / 5.2 check 1: a 0-byte object is initializing (retried until the deadline, and
/// attached once it is ready); 1 to 511 bytes are "too small" at once.
#[cfg(target_os = "linux")]
#[test]
fn an_empty_object_is_initializing_and_a_short_one_too_small() {
    let g = ShmGuard::new();
    let file = std::fs::File::create(shm_path(&g.0)).unwrap();
    let t0 = Instant::now();
    assert!(matches!(
        Segment::attach_shm(&g.0, Duration::from_millis(60)),
        Err(Error::Initializing)
    ));
    assert!(t0.elapsed() >= Duration::from_millis(60), "not retried");
    // Sized and filled by its "creator" while an attacher waits: the attacher gets it.
    let name = g.0.clone();
    let waiter = std::thread::spawn(move || Segment::attach_shm(&name, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(30));
    let img = crate::conformance::golden::image("empty").unwrap();
    std::fs::write(shm_path(&g.0), &img).unwrap();
    assert!(waiter.join().unwrap().is_ok());
    drop(file);
    for len in [1usize, 100, 511] {
        std::fs::write(shm_path(&g.0), vec![0u8; len]).unwrap();
        let t0 = Instant::now();
        assert!(
            matches!(
                Segment::attach_shm(&g.0, Duration::from_secs(5)),
                Err(Error::TooSmall { mapping_len }) if mapping_len == len as u64
            ),
            "{len}"
        );
        assert!(t0.elapsed() < Duration::from_secs(1), "{len}: retried");
    }
}

/// Spec 5.1 step 1: on Linux the creator reserves the memory (`posix_fallocate`), so a full
/// tmpfs fails at creation with "no space", and nothing is left behind. Needs a small tmpfs
/// of its own (`mount`, as root); skipped with a message where mounting is not permitted.
#[cfg(target_os = "linux")]
#[test]
fn creation_on_a_full_tmpfs_fails_with_no_space_and_leaves_nothing() {
    struct Mount(PathBuf);
    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("rwrs-{}-tmpfs", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        let _ = std::fs::remove_dir(&dir);
        eprintln!("skipped: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)");
        return;
    }
    let mnt = Mount(dir);
    let path = mnt.0.join("big.seg");
    // 16384 slots of 8 bytes: 128 KiB of slots on a 64 KiB file system.
    let big = cfg(16384, 2, ProducerMode::Single);
    match Producer::<u64>::create(Backing::File(&path), &big) {
        Err(Error::NoSpace { total_size }) => assert!(total_size > 64 * 1024),
        Err(e) => panic!("expected no space, got {e}"),
        Ok(_) => panic!("a 128 KiB segment fitted in 64 KiB"),
    }
    assert!(!path.exists(), "the failed creation left its file behind");
    assert_eq!(std::fs::read_dir(&mnt.0).unwrap().count(), 0);
    // A segment that fits is created there.
    let small = mnt.0.join("small.seg");
    let p = Producer::<u64>::create(Backing::File(&small), &cfg(8, 2, ProducerMode::Single));
    assert!(p.is_ok(), "{:?}", p.err());
    drop(p);
    let _ = std::fs::remove_file(&small);
}

/// Spec 9: exactly the grammar's names are accepted, and the others are refused with
/// `InvalidName` before anything touches the system (not `NotFound`, no object created).
#[test]
fn invalid_names_are_refused_before_touching_the_system() {
    let t = Duration::from_millis(10);
    let ty = crate::event::EventType::of::<ConformanceEvent>().unwrap();
    for bad in ["", "/", "noslash", "/a/b", "/.", "/..", "//x", "/nul\0x"] {
        assert!(
            matches!(Segment::attach_shm(bad, t), Err(Error::InvalidName { .. })),
            "attach {bad:?}"
        );
        assert!(
            matches!(
                Segment::create(Backing::Shm(bad), &Config::default(), &ty),
                Err(Error::InvalidName { .. })
            ),
            "create {bad:?}"
        );
        assert!(
            matches!(segment::unlink_shm(bad), Err(Error::InvalidName { .. })),
            "unlink {bad:?}"
        );
    }
    let long = format!("/{}", "a".repeat(256));
    assert!(matches!(
        Segment::attach_shm(&long, t),
        Err(Error::InvalidName { .. })
    ));
    // The longest valid name reaches the system (and is simply not there).
    let longest = format!("/rwrs-{}-{}", std::process::id(), "a".repeat(200));
    assert!(longest.len() <= 256);
    assert!(matches!(
        Segment::attach_shm(&longest, t),
        Err(Error::NotFound)
    ));
    assert_eq!(l::MAX_CONSUMER_NAME, 48);
}

#[test]
fn shm_create_attach_and_guards() {
    let g = ShmGuard::new();
    let mut p =
        Producer::<ConformanceEvent>::create(Backing::Shm(&g.0), &cfg(16, 2, ProducerMode::Single))
            .unwrap();
    // Exclusive creation.
    let again = Producer::<ConformanceEvent>::create(Backing::Shm(&g.0), &Config::default());
    assert!(
        matches!(again, Err(Error::Io(ref e)) if e.kind() == std::io::ErrorKind::AlreadyExists)
    );
    let seg = Segment::attach_shm(&g.0, Duration::from_secs(1)).unwrap();
    assert_ne!(seg.geometry().incarnation, 0);
    assert_eq!(
        seg.geometry().incarnation,
        p.segment().geometry().incarnation
    );
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c1")).unwrap();
    p.publish(&ConformanceEvent::new(0, 0)).unwrap();
    let mut got = Vec::new();
    c.poll(10, |e, s, eob| got.push((e.event().unwrap().seq, s, eob)))
        .unwrap();
    assert_eq!(got, [(0, 0, true)]);
    p.close().unwrap();
    assert!(c.poll(10, |_, _, _| {}).unwrap().ended);
    drop(c);
    assert_eq!(seg.registry()[0].state, crate::EntryState::Closed);
    // Not found, bounded.
    let t = Instant::now();
    let missing = ShmGuard::new();
    assert!(matches!(
        Segment::attach_shm(&missing.0, Duration::from_millis(30)),
        Err(Error::NotFound)
    ));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn attach_waits_while_initializing() {
    let g = ShmGuard::new();
    let p = Producer::<ConformanceEvent>::create(Backing::Shm(&g.0), &Config::default()).unwrap();
    let init = p.segment().map().u32_at(l::INIT_STATE.offset);
    init.store(0, Ordering::SeqCst);
    assert!(matches!(
        Segment::attach_shm(&g.0, Duration::from_millis(20)),
        Err(Error::Initializing)
    ));
    let name = g.0.clone();
    let waiter = std::thread::spawn(move || Segment::attach_shm(&name, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(30));
    init.store(1, Ordering::Release);
    assert!(waiter.join().unwrap().is_ok());
}

#[test]
fn file_backed_segment() {
    let tmp = TempPath::new("file.seg");
    let path = tmp.0.clone();
    let mut p =
        Producer::<u64>::create(Backing::File(&path), &cfg(4, 1, ProducerMode::Single)).unwrap();
    let seg = Segment::attach_path(&path, Duration::from_secs(1)).unwrap();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("f")).unwrap();
    p.publish_batch(&[7, 8, 9]).unwrap();
    let mut got = vec![];
    c.poll(100, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!(got, [7, 8, 9]);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), seg.geometry().total_size);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn heap_mapping_is_page_aligned() {
    let m = Mapping::heap(8192);
    assert_eq!(m.base() as usize % 4096, 0);
    let ty = EventType::of::<u64>().unwrap();
    let s = Segment::create(Backing::Heap, &Config::default(), &ty).unwrap();
    assert_eq!(s.geometry().slots.offset % 4096, 0);
}
