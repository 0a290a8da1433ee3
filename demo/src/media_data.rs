//! The bytes MediaService moves, defined so that a test on the far side of the gateway can
//! recompute them: the Download content is a fixed pattern addressed by absolute offset, and
//! the Upload checksum is 32-bit FNV-1a (tiny, order-sensitive, no crate needed).

/// The Download pattern repeats every this many bytes (a prime, so it never lines up with
/// power-of-two chunk or frame sizes and misplaced bytes show).
pub const PATTERN_PERIOD: u64 = 251;

// Built in a const context, where iterators are not available; the index stays in bounds.
#[allow(clippy::indexing_slicing)]
const PATTERN: [u8; 251] = {
    let mut bytes = [0u8; 251];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = i as u8;
        i += 1;
    }
    bytes
};

/// The `len` Download bytes starting at absolute `offset`: byte at position `p` is `p % 251`.
pub fn pattern_bytes(offset: u64, len: usize) -> Vec<u8> {
    let start = usize::try_from(offset % PATTERN_PERIOD).unwrap_or(0);
    let mut out = Vec::with_capacity(len);
    let mut rest = PATTERN.get(start..).unwrap_or_default();
    while out.len() < len {
        if rest.is_empty() {
            rest = &PATTERN;
        }
        let take = rest.len().min(len - out.len());
        let Some((now, later)) = rest.split_at_checked(take) else {
            break;
        };
        out.extend_from_slice(now);
        rest = later;
    }
    out
}

/// Incremental 32-bit FNV-1a, the Upload checksum: start at `0x811c9dc5`, then for each byte
/// `hash = (hash ^ byte) * 0x01000193` (wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a32(u32);

impl Fnv1a32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    /// The checksum of no bytes.
    pub fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    /// Feeds `data` (chunk boundaries do not matter).
    pub fn update(&mut self, data: &[u8]) {
        for &byte in data {
            self.0 = (self.0 ^ u32::from(byte)).wrapping_mul(Self::PRIME);
        }
    }

    /// The checksum of everything fed so far.
    pub fn finish(self) -> u32 {
        self.0
    }
}

impl Default for Fnv1a32 {
    fn default() -> Self {
        Self::new()
    }
}

/// One-shot [`Fnv1a32`].
pub fn fnv1a32(data: &[u8]) -> u32 {
    let mut hash = Fnv1a32::new();
    hash.update(data);
    hash.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_offset_mod_251() {
        let cases: [(u64, usize); 6] = [
            (0, 0),
            (0, 600),
            (250, 3),
            (251, 2),
            (1000, 777),
            (8 << 30, 300),
        ];
        for (offset, len) in cases {
            let expected: Vec<u8> = (offset..offset + len as u64)
                .map(|p| (p % 251) as u8)
                .collect();
            assert_eq!(pattern_bytes(offset, len), expected, "{offset}+{len}");
        }
    }

    #[test]
    fn fnv1a_reference_values() {
        // Published FNV-1a 32-bit test vectors.
        let cases: [(&[u8], u32); 3] = [
            (b"", 0x811c_9dc5),
            (b"a", 0xe40c_292c),
            (b"foobar", 0xbf9c_f968),
        ];
        for (data, expected) in cases {
            assert_eq!(fnv1a32(data), expected, "{data:?}");
        }
    }

    #[test]
    fn fnv1a_ignores_chunk_boundaries() {
        let data = pattern_bytes(7, 1000);
        let mut split = Fnv1a32::default();
        for part in data.chunks(97) {
            split.update(part);
        }
        assert_eq!(split.finish(), fnv1a32(&data));
    }
}
