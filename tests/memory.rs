//! `memory::release_to_os` gives freed heap back: alone in its own test binary, so that no other test's
//! allocations move the process's resident size while it measures.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn freed_heap_stays_resident_until_released() {
    // 64 MB in 4 KB blocks (below glibc's mmap threshold, so on the heap), then one small block above
    // them that stays alive: the heap's top cannot shrink, so free() alone keeps the pages resident
    let blocks: Vec<Vec<u8>> = (0..16_384)
        .map(|i| vec![(i % 251) as u8 | 1; 4096])
        .collect();
    let pin = Box::new([7u8; 64]);
    let full = rss_kb();
    drop(blocks);
    let freed = rss_kb();
    binwatch::memory::release_to_os();
    let released = rss_kb();
    assert_eq!(pin[63], 7);
    assert!(
        freed + 16_000 > full,
        "free() alone already returned the memory: {full} kB -> {freed} kB"
    );
    assert!(
        released + 32_000 < freed,
        "release_to_os kept the freed heap resident: {freed} kB -> {released} kB (with the blocks {full} kB)"
    );
}
