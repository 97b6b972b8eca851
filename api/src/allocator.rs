//! The API's global allocator: mimalloc, with blocks of a mebibyte or more
//! in mappings of their own.
//!
//! mimalloc keeps a freed block's memory for a while (a second by default)
//! before it gives it back, so that the next allocation can reuse it.
//! Password hashing frees and allocates a 12 MiB block per sign-in, often
//! on another blocking thread than the last one: those blocks then waited
//! side by side, and a burst of sign-ins took the API's resident memory
//! from 54 to 78 MiB, the same load on the same build, depending on which
//! threads the hashes ran on. A block of [`LARGE`] bytes or more is now
//! mapped for itself, in huge pages where the kernel has them, and unmapped
//! when freed, so the memory held is the blocks alive: 51–53 MiB in five
//! such bursts, at 162–172 sign-ins a second against 169–171. Everything
//! smaller, nearly every allocation, is mimalloc's.
//!
//! Huge pages need the kernel's THP setting at `madvise` or `always` and a
//! process that has not turned them off: `MIMALLOC_ALLOW_THP=0`, which the
//! API's image sets against `always` hosts, turns them off for every
//! mapping, and a hash's block is then faulted in 4 KiB at a time (115
//! sign-ins a second on the same machine).

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;

/// The smallest block that gets a mapping of its own.
pub const LARGE: usize = 1 << 20;

/// mimalloc for small blocks, `mmap` for large ones (see the module docs).
pub struct Allocator;

/// The alignment a fresh mapping has: a page.
const PAGE: usize = 4096;

/// Whether a block of `layout` gets a mapping of its own.
fn mapped(layout: Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= PAGE
}

/// A fresh anonymous mapping of `size` bytes, zeroed, or null.
fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address the kernel picks
    // touches no existing memory.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if address == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    // Faulted in 2 MiB at a time, where the kernel allows (THP `madvise`
    // or `always`): a hash's 12 MiB cost 3,072 page faults each time, a
    // third of the sign-in's CPU. Only whole 2 MiB ranges of the mapping
    // get a huge page, so it never holds more than its size; a failure
    // leaves the mapping as it is.
    // SAFETY: advice about the mapping just made, which changes no contents.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe {
        libc::madvise(address, size, libc::MADV_HUGEPAGE)
    };
    address.cast()
}

/// Returns a mapping made by [`map`] with the same `size`.
///
/// # Safety
/// `address` and `size` are those of a live mapping from [`map`], which is
/// not used again.
unsafe fn unmap(address: *mut u8, size: usize) {
    // SAFETY: the caller's contract. munmap fails only when splitting a
    // merged region would pass the limit on mappings; the block then stays
    // mapped, and nothing uses it again.
    let unmapped = unsafe { libc::munmap(address.cast(), size) };
    debug_assert_eq!(unmapped, 0, "munmap of a block's mapping failed");
}

// SAFETY: each block is freed by the allocator that made it, since whether
// it was mapped depends only on its layout, which `dealloc` and `realloc`
// are given as it was at allocation. Mappings are page-aligned, and only
// layouts aligned to a page or less are mapped.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            map(layout.size())
        } else {
            // SAFETY: forwarded under the caller's contract.
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            // Anonymous mappings are zeroed by the kernel.
            map(layout.size())
        } else {
            // SAFETY: forwarded under the caller's contract.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(layout) {
            // SAFETY: a block of this layout was mapped by `alloc`.
            unsafe { unmap(ptr, layout.size()) }
        } else {
            // SAFETY: forwarded under the caller's contract.
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees that `new_size`, rounded up to the
        // alignment, does not overflow, so the layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !mapped(layout) && !mapped(new_layout) {
            // SAFETY: forwarded under the caller's contract.
            return unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        }
        // The block moves to or from a mapping, or between two: copied.
        // SAFETY: `new_layout` has a non-zero size, as `new_size` is.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct and at least this long;
            // the old one is freed with the layout it was made with.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Serialises the tests that allocate large blocks, so that one's
    /// blocks do not show in another's reading of the resident set.
    static LARGE_BLOCKS: Mutex<()> = Mutex::new(());

    fn filled(layout: Layout, byte: u8) -> *mut u8 {
        // SAFETY: a non-zero size; the block is written within its length.
        unsafe {
            let block = Allocator.alloc(layout);
            assert!(!block.is_null());
            std::ptr::write_bytes(block, byte, layout.size());
            block
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_block_is_mapped_zeroed_and_returned_when_freed() {
        /// This process's resident set, in bytes.
        fn resident() -> usize {
            let statm = std::fs::read_to_string("/proc/self/statm").expect("statm is readable");
            let pages: usize = statm.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("statm has RSS");
            // SAFETY: sysconf only reads a system value.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
            pages * page
        }

        let _alone = LARGE_BLOCKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let layout = Layout::from_size_align(12 << 20, 64).unwrap();
        // SAFETY: a non-zero size; used within the block, freed with its layout.
        unsafe {
            let block = Allocator.alloc_zeroed(layout);
            assert!(!block.is_null());
            assert_eq!(block as usize % PAGE, 0, "a mapping starts a page");
            assert!(std::slice::from_raw_parts(block, layout.size()).iter().all(|&b| b == 0));
            std::ptr::write_bytes(block, 1, layout.size());
            let with_block = resident();
            Allocator.dealloc(block, layout);
            let after = resident();
            assert!(
                after + (8 << 20) < with_block,
                "freeing 12 MiB gave back {} bytes",
                with_block.saturating_sub(after)
            );
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_the_threshold_both_ways() {
        let _alone = LARGE_BLOCKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let small = Layout::from_size_align(1000, 8).unwrap();
        let block = filled(small, 7);
        // SAFETY: each block is reallocated with the layout it has, then
        // read within its length and freed with that layout.
        unsafe {
            let grown = Allocator.realloc(block, small, 3 * LARGE);
            assert!(!grown.is_null());
            assert!(std::slice::from_raw_parts(grown, 1000).iter().all(|&b| b == 7));
            std::ptr::write_bytes(grown, 9, 3 * LARGE);
            let large = Layout::from_size_align(3 * LARGE, 8).unwrap();
            let larger = Allocator.realloc(grown, large, 5 * LARGE);
            assert!(!larger.is_null());
            assert!(std::slice::from_raw_parts(larger, 3 * LARGE).iter().all(|&b| b == 9));
            let larger_layout = Layout::from_size_align(5 * LARGE, 8).unwrap();
            let shrunk = Allocator.realloc(larger, larger_layout, 100);
            assert!(!shrunk.is_null());
            assert!(std::slice::from_raw_parts(shrunk, 100).iter().all(|&b| b == 9));
            Allocator.dealloc(shrunk, Layout::from_size_align(100, 8).unwrap());
        }
    }

    #[test]
    fn only_large_blocks_aligned_to_a_page_at_most_are_mapped() {
        assert!(mapped(Layout::from_size_align(LARGE, 8).unwrap()));
        assert!(mapped(Layout::from_size_align(12 << 20, PAGE).unwrap()));
        assert!(!mapped(Layout::from_size_align(LARGE - 1, 8).unwrap()));
        assert!(!mapped(Layout::from_size_align(2 * LARGE, 2 * PAGE).unwrap()));
    }
}
