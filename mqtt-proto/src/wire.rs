//! Wire primitives: the bounded [`Reader`] over one frame (nom complete parsers inside), the
//! variable byte integer, UTF-8 strings, and the matching encode helpers.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::Parser;

use crate::error::{DecodeError, EncodeError, PResult};
use crate::types::PacketType;
use crate::DecodeOptions;

/// Largest value a variable byte integer holds (MQTT 5 §1.5.5).
pub const MAX_VARINT: u32 = 268_435_455;

/// Parses a variable byte integer: at most four bytes, minimally encoded [MQTT-1.5.5-1].
pub(crate) fn varint(input: &[u8]) -> PResult<'_, u32> {
    let mut value: u32 = 0;
    let mut rest = input;
    for i in 0..4u32 {
        let (r, byte) = be_u8(rest)?;
        rest = r;
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // [MQTT-1.5.5-1] a trailing zero group means a shorter encoding existed.
            if byte == 0 && i > 0 {
                return Err(nom::Err::Failure(DecodeError::VarIntNotMinimal));
            }
            return Ok((rest, value));
        }
    }
    // [MQTT-1.5.5-1] a fifth byte would be needed.
    Err(nom::Err::Failure(DecodeError::VarIntTooLong))
}

/// Bytes taken by `v` as a variable byte integer.
pub const fn varint_len(v: u32) -> usize {
    if v < 0x80 {
        1
    } else if v < 0x4000 {
        2
    } else if v < 0x20_0000 {
        3
    } else {
        4
    }
}

/// Writes `v` as a variable byte integer; `v` must not exceed [`MAX_VARINT`].
pub(crate) fn put_varint(buf: &mut BytesMut, mut v: u32) {
    loop {
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if v == 0 {
            break;
        }
    }
}

/// How strings with C0/C1 control characters (U+0001..U+001F, U+007F..U+009F) are treated.
///
/// The spec says they SHOULD NOT appear and a receiver MAY treat them as malformed
/// (MQTT 5 §1.5.4). ringmq's default is [`ControlChars::Reject`], as Mosquitto does.
/// U+0000 is always rejected [MQTT-1.5.4-2]; a BOM (U+FEFF) is kept as is [MQTT-1.5.4-3].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControlChars {
    /// Treat a string containing a control character as malformed (0x81).
    #[default]
    Reject,
    /// Accept control characters.
    Allow,
}

/// Checks one string's bytes against [MQTT-1.5.4-1..3] and the control-character policy, and
/// optionally for topic wildcards. Returns whether a wildcard (`+` or `#`) was seen.
///
/// Strings of printable ASCII (U+0020..U+007E), nearly all topics and property strings, pass
/// a word-at-a-time scan; anything else is checked byte by byte by [`check_utf8_exact`],
/// which gives the same verdict for the printable-ASCII strings too.
#[inline]
pub(crate) fn check_utf8(s: &[u8], policy: ControlChars) -> Result<bool, DecodeError> {
    match scan_printable_ascii(s) {
        Some(wildcard) => Ok(wildcard),
        None => check_utf8_exact(s, policy),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Non-zero when some byte of `x` is zero. Exact as a yes/no answer (only the positions of
/// the flags above the first zero byte may be wrong).
#[inline(always)]
const fn has_zero_byte(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Flags for one word: (some byte is outside U+0020..U+007E, some byte is `+` or `#`).
///
/// Per byte, without carries between bytes: `(b & 0x7F) + 1` sets the high bit exactly when
/// the low seven bits are 0x7F, and `(b | 0x80) - 0x20` clears it exactly when they are below
/// 0x20; a byte >= 0x80 is flagged by its own high bit. The wildcard flag is exact when no
/// byte is flagged special: `+` (0x2B) and `#` (0x23) differ only in bit 3, so `b | 0x08` is
/// 0x2B for exactly those two, and `has_zero_byte` finds a byte equal to it.
#[inline(always)]
const fn word_flags(x: u64) -> (u64, u64) {
    let del = (x & !HIGHS) + ONES;
    let not_ctl = (x | HIGHS) - ONES * 0x20;
    let special = (x | del | !not_ctl) & HIGHS;
    let wild = has_zero_byte((x | (ONES * 0x08)) ^ (ONES * 0x2B));
    (special, wild)
}

/// Lane-wise flags for sixteen bytes, OR-ed into `special` and `wild` (as [`word_flags`]);
/// written per lane so that it compiles to a few vector instructions.
#[inline(always)]
fn block_flags(c: &[u8; 16], special: &mut [u8; 16], wild: &mut [u8; 16]) {
    for ((sp, wi), &b) in special.iter_mut().zip(wild.iter_mut()).zip(c) {
        *sp |= u8::from(b.wrapping_sub(0x20) > 0x5E);
        *wi |= u8::from((b | 0x08) == 0x2B);
    }
}

/// `Some(wildcard seen)` when every byte is printable ASCII (0x20..=0x7E), else `None`.
#[inline(always)]
fn scan_printable_ascii(s: &[u8]) -> Option<bool> {
    if let Some(last) = s.last_chunk::<16>() {
        // Whole blocks, then the last sixteen bytes (scanning a byte twice is harmless).
        let mut special = [0u8; 16];
        let mut wild = [0u8; 16];
        block_flags(last, &mut special, &mut wild);
        let mut rest = s;
        while let Some((c, r)) = rest.split_first_chunk::<16>() {
            block_flags(c, &mut special, &mut wild);
            rest = r;
        }
        return (u128::from_ne_bytes(special) == 0).then_some(u128::from_ne_bytes(wild) != 0);
    }
    let (special, wild) = if let Some(last) = s.last_chunk::<8>() {
        let (sp, wi) = word_flags(u64::from_le_bytes(*last));
        match s.first_chunk::<8>() {
            Some(first) => {
                let (sp2, wi2) = word_flags(u64::from_le_bytes(*first));
                (sp | sp2, wi | wi2)
            }
            None => (sp, wi),
        }
    } else {
        // Fewer than eight bytes: shift them into a word padded with a printable
        // non-wildcard byte.
        let mut w = ONES * u64::from(b'a');
        for &b in s {
            w = (w << 8) | u64::from(b);
        }
        word_flags(w)
    };
    (special == 0).then_some(wild != 0)
}

/// The byte-by-byte check behind [`check_utf8`], for strings that are not all printable ASCII.
fn check_utf8_exact(s: &[u8], policy: ControlChars) -> Result<bool, DecodeError> {
    let mut wildcard = false;
    let mut non_ascii = false;
    let mut prev = 0u8;
    for &b in s {
        match b {
            // [MQTT-1.5.4-2] U+0000 is never allowed.
            0 => return Err(DecodeError::Utf8Null),
            0x01..=0x1F | 0x7F if policy == ControlChars::Reject => {
                return Err(DecodeError::Utf8ControlCharacter)
            }
            // U+0080..U+009F are encoded C2 80..C2 9F.
            0x80..=0x9F if prev == 0xC2 && policy == ControlChars::Reject => {
                return Err(DecodeError::Utf8ControlCharacter)
            }
            b'+' | b'#' => wildcard = true,
            _ => {}
        }
        non_ascii |= b >= 0x80;
        prev = b;
    }
    // [MQTT-1.5.4-1] surrogates, overlong forms and truncated sequences are ill-formed; the
    // standard library's validator rejects all three.
    if non_ascii && core::str::from_utf8(s).is_err() {
        return Err(DecodeError::InvalidUtf8);
    }
    Ok(wildcard)
}

/// A bounded cursor over part of one frame. Fields are parsed with nom complete parsers; a
/// field that runs past the end is [`DecodeError::Truncated`].
pub(crate) struct Reader<'a> {
    frame: &'a Bytes,
    rest: &'a [u8],
    pub(crate) opts: &'a DecodeOptions,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(frame: &'a Bytes, body: &'a [u8], opts: &'a DecodeOptions) -> Self {
        Self {
            frame,
            rest: body,
            opts,
        }
    }

    #[inline]
    fn run<T>(&mut self, r: PResult<'a, T>) -> Result<T, DecodeError> {
        let (rest, v) = r?;
        self.rest = rest;
        Ok(v)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        self.run(be_u8(self.rest))
    }

    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.run(be_u16(self.rest))
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.run(be_u32(self.rest))
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u32, DecodeError> {
        self.run(varint(self.rest))
    }

    /// A non-zero Packet Identifier [MQTT-2.2.1-3].
    #[inline]
    pub(crate) fn packet_id(&mut self) -> Result<core::num::NonZeroU16, DecodeError> {
        // [MQTT-2.2.1-3] packet identifiers are non-zero.
        core::num::NonZeroU16::new(self.u16()?).ok_or(DecodeError::PacketIdZero)
    }

    /// Raw bytes of a two-byte-length-prefixed field.
    #[inline]
    pub(crate) fn prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let r: PResult<'a, &'a [u8]> = nom::multi::length_data(be_u16).parse(self.rest);
        self.run(r)
    }

    /// Binary Data (MQTT 5 §1.5.6), as a slice of the frame.
    #[inline]
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let s = self.prefixed()?;
        Ok(self.frame.slice_ref(s))
    }

    /// A UTF-8 Encoded String (MQTT 5 §1.5.4), as a slice of the frame.
    #[inline]
    pub(crate) fn string(&mut self) -> Result<ByteString, DecodeError> {
        self.string_wild().map(|(s, _)| s)
    }

    /// A UTF-8 string and whether it contains a topic wildcard character.
    #[inline]
    pub(crate) fn string_wild(&mut self) -> Result<(ByteString, bool), DecodeError> {
        let s = self.prefixed()?;
        let wild = check_utf8(s, self.opts.control_chars)?;
        let b = self.frame.slice_ref(s);
        ByteString::try_from(b)
            .map(|s| (s, wild))
            .map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Everything that is left, as a slice of the frame.
    pub(crate) fn rest_bytes(&mut self) -> Bytes {
        let s = core::mem::take(&mut self.rest);
        self.frame.slice_ref(s)
    }

    /// Splits off the next `len` bytes as a reader of their own.
    pub(crate) fn sub(&mut self, len: usize) -> Result<Reader<'a>, DecodeError> {
        let r: PResult<'a, &'a [u8]> = nom::bytes::complete::take(len).parse(self.rest);
        let body = self.run(r)?;
        Ok(Reader {
            frame: self.frame,
            rest: body,
            opts: self.opts,
        })
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless everything was consumed.
    pub(crate) fn finish(&self, packet: PacketType) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(packet))
        }
    }
}

/// Length on the wire of a string or binary field.
#[inline]
pub(crate) const fn field_len(len: usize) -> usize {
    2 + len
}

/// Writes a two-byte length prefix and the bytes.
#[inline]
pub(crate) fn put_field(buf: &mut BytesMut, b: &[u8]) -> Result<(), EncodeError> {
    let len = u16::try_from(b.len()).map_err(|_| EncodeError::FieldTooLong)?;
    buf.put_u16(len);
    buf.put_slice(b);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(s: &[u8]) {
        for policy in [ControlChars::Reject, ControlChars::Allow] {
            assert_eq!(
                check_utf8(s, policy),
                check_utf8_exact(s, policy),
                "{s:?} {policy:?}"
            );
        }
    }

    /// The fast scans agree with the byte-by-byte check: every byte value at every position of
    /// strings up to 40 bytes (the word and the sixteen-byte block scans), and every pair of
    /// byte values at a few positions.
    #[test]
    fn fast_scan_matches_exact_check() {
        for len in 0..=40usize {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    if let Some(x) = s.get_mut(pos) {
                        *x = b;
                    }
                    same(&s);
                }
            }
        }
        for (i, j) in [
            (0usize, 1usize),
            (6, 7),
            (7, 8),
            (3, 12),
            (14, 15),
            (2, 20),
            (16, 33),
        ] {
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    let mut s = vec![b'/'; 34];
                    if let Some(x) = s.get_mut(i) {
                        *x = a;
                    }
                    if let Some(x) = s.get_mut(j) {
                        *x = b;
                    }
                    same(&s);
                }
            }
        }
        same(b"sensors/building-1/floor-3/temp");
        same(b"sensors/+/floor-3/#");
        same("caf\u{e9}/\u{1F600}".as_bytes());
    }
}
