// SPDX-License-Identifier: GPL-2.0

//! Parsing and formatting of `pins.max`.
//!
//! This file depends on `core` only, so the host-side tests build the same
//! file the kernel builds.
//!
//! The accepted syntax is `max`, or a decimal byte count with an optional
//! suffix `K`, `M`, `G`, `T`, `P` or `E` (either case, powers of 1024: the
//! suffixes `memory.max` accepts), with optional white space around it. The
//! value is kept in whole pages, rounded down. Anything else is refused:
//! signs, other bases, fractions, a second token, and any number whose byte
//! count does not fit in 64 bits.

use crate::counter::UNLIMITED;

/// Why a `pins.max` write was refused. Each maps to `-EINVAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but white space.
    Empty,
    /// Not `max` and not a decimal number with an optional suffix.
    Invalid,
    /// The byte count does not fit in 64 bits.
    Overflow,
}

/// Whether `c` is white space as the kernel's `isspace()` has it, and so as
/// `strstrip()` strips it for `memory.max`: unlike
/// [`u8::is_ascii_whitespace`], that includes the vertical tab.
fn is_space(c: u8) -> bool {
    c.is_ascii_whitespace() || c == 0x0b
}

/// `input` without leading and trailing white space ([`is_space`]).
fn trim(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|&c| !is_space(c))
        .unwrap_or(input.len());
    let end = input
        .iter()
        .rposition(|&c| !is_space(c))
        .map_or(start, |last| last + 1);
    &input[start..end.max(start)]
}

fn suffix_shift(c: u8) -> Option<u32> {
    match c.to_ascii_uppercase() {
        b'K' => Some(10),
        b'M' => Some(20),
        b'G' => Some(30),
        b'T' => Some(40),
        b'P' => Some(50),
        b'E' => Some(60),
        _ => None,
    }
}

/// Parses a `pins.max` write into a limit in pages (or [`UNLIMITED`]).
///
/// `page_shift` is the base-2 logarithm of the page size.
pub fn parse_max(input: &[u8], page_shift: u32) -> Result<u64, ParseError> {
    let text = trim(input);
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    if text == b"max" {
        return Ok(UNLIMITED);
    }

    let (digits, shift) = match text.split_last() {
        Some((&last, rest)) if !last.is_ascii_digit() => {
            (rest, suffix_shift(last).ok_or(ParseError::Invalid)?)
        }
        _ => (text, 0),
    };
    if digits.is_empty() {
        return Err(ParseError::Invalid);
    }

    let mut bytes: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(ParseError::Invalid);
        }
        bytes = bytes
            .checked_mul(10)
            .and_then(|b| b.checked_add(u64::from(c - b'0')))
            .ok_or(ParseError::Overflow)?;
    }
    // A left shift drops high bits silently: check that it round-trips.
    let scaled = bytes << shift;
    if scaled >> shift != bytes {
        return Err(ParseError::Overflow);
    }
    Ok(scaled >> page_shift)
}

/// What `pins.max` shows for a limit: `None` for `max`, else the byte count
/// of the limit's whole pages.
pub fn max_bytes(pages: u64, page_shift: u32) -> Option<u64> {
    if pages == UNLIMITED {
        None
    } else {
        Some(pages_to_bytes(pages, page_shift))
    }
}

/// Converts a page count to bytes for display, saturating.
pub fn pages_to_bytes(pages: u64, page_shift: u32) -> u64 {
    if pages > u64::MAX >> page_shift {
        u64::MAX
    } else {
        pages << page_shift
    }
}
