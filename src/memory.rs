//! Returning freed heap to the operating system.
//!
//! Inference allocates and frees tens of megabytes per batch of crops. glibc's allocator keeps freed
//! memory in its arenas, so a daemon that is idle between frames would sit at its peak resident size;
//! `release_to_os` asks it to give the free pages back (`malloc_trim`). Elsewhere (other C libraries)
//! it does nothing.

/// Gives the allocator's free memory back to the OS. A few milliseconds; call it when idle, not per frame.
pub fn release_to_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
