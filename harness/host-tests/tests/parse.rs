//! Tests of `pins.max` parsing and display (`kernel/cgroup/pins/parse.rs`).

use pins_host_tests::counter::UNLIMITED;
use pins_host_tests::parse::{max_bytes, pages_to_bytes, parse_max, ParseError};

const PAGE_SHIFT: u32 = 12;

#[test]
fn accepts_good_values() {
    let cases: &[(&str, u64)] = &[
        ("max", UNLIMITED),
        ("max\n", UNLIMITED),
        (" max ", UNLIMITED),
        ("\tmax\r\n", UNLIMITED),
        ("max\x0b", UNLIMITED),
        ("\x0b\x0c max \x0b\n", UNLIMITED),
        ("0", 0),
        ("0\n", 0),
        ("4096", 1),
        ("4097", 1),
        ("8191", 1),
        ("8192", 2),
        ("1000", 0),
        ("4095", 0),
        ("4k", 1),
        ("4K", 1),
        ("0K", 0),
        ("3k", 0),
        ("1M", 256),
        ("1m", 256),
        ("2G", 2 << 18),
        ("1T", 1 << 28),
        ("1P", 1 << 38),
        ("1E", (1 << 60) >> 12),
        ("15E", (15 << 60) >> 12),
        ("  8192  \n", 2),
        ("\t12288\n", 3),
        ("\x0b16384\x0c\r\x0b", 4),
        ("0004096", 1),
        ("00", 0),
        ("18446744073709551615", u64::MAX >> 12),
        ("16777215T", ((16_777_215u64) << 40) >> 12),
        ("17179869183G", (17_179_869_183u64 << 30) >> 12),
    ];
    for &(input, pages) in cases {
        assert_eq!(
            parse_max(input.as_bytes(), PAGE_SHIFT),
            Ok(pages),
            "input {input:?}"
        );
    }
}

#[test]
fn rounds_down_to_64k_pages() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("4096", 0),
        ("65535", 0),
        ("65536", 1),
        ("131071", 1),
        ("131072", 2),
        ("64K", 1),
        ("127k", 1),
        ("1M", 16),
        ("1G", 1 << 14),
        ("1E", 1 << 44),
        ("18446744073709551615", u64::MAX >> 16),
        ("max", UNLIMITED),
    ];
    for &(input, pages) in cases {
        assert_eq!(
            parse_max(input.as_bytes(), 16),
            Ok(pages),
            "input {input:?}"
        );
    }
}

#[test]
fn refuses_bad_values_with_the_right_error() {
    use ParseError::{Empty, Invalid, Overflow};
    let cases: &[(&[u8], ParseError)] = &[
        (b"", Empty),
        (b"  \n", Empty),
        (b"\t\r\n ", Empty),
        (b"\x0b", Empty),
        (b" \x0b\x0c\n", Empty),
        (b"4096\x0b4096", Invalid),
        (b"\x0b\x0bK", Invalid),
        (b"-1", Invalid),
        (b"-4096", Invalid),
        (b"+4096", Invalid),
        (b"abc", Invalid),
        (b"4096abc", Invalid),
        (b"4096 4096", Invalid),
        (b"1KB", Invalid),
        (b"1Q", Invalid),
        (b"K", Invalid),
        (b" k\n", Invalid),
        (b"max1", Invalid),
        (b"maxx", Invalid),
        (b"MAX", Invalid),
        (b"Max", Invalid),
        (b"max max", Invalid),
        (b"0x1000", Invalid),
        (b"1.5G", Invalid),
        (b"4096\n5", Invalid),
        (b"1 K", Invalid),
        (b"1KK", Invalid),
        (b"4096\0", Invalid),
        (b"\xff", Invalid),
        (b"18446744073709551616", Overflow),
        (b"99999999999999999999999", Overflow),
        (b"16777216T", Overflow),
        (b"20E", Overflow),
        (b"16E", Overflow),
        (b"17179869184G", Overflow),
        (b"18446744073709551615K", Overflow),
    ];
    for &(input, error) in cases {
        assert_eq!(
            parse_max(input, PAGE_SHIFT),
            Err(error),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn max_bytes_shows_whole_pages_and_saturates() {
    assert_eq!(max_bytes(UNLIMITED, PAGE_SHIFT), None);
    assert_eq!(max_bytes(UNLIMITED, 16), None);
    assert_eq!(max_bytes(0, PAGE_SHIFT), Some(0));
    assert_eq!(max_bytes(1, PAGE_SHIFT), Some(4096));
    assert_eq!(max_bytes(256, PAGE_SHIFT), Some(1 << 20));
    assert_eq!(max_bytes(3, 16), Some(3 << 16));
    assert_eq!(
        max_bytes(u64::MAX >> 12, PAGE_SHIFT),
        Some((u64::MAX >> 12) << 12)
    );
    // One page more than fits in 64 bits of bytes: saturate, don't wrap.
    assert_eq!(max_bytes((u64::MAX >> 12) + 1, PAGE_SHIFT), Some(u64::MAX));
    assert_eq!(max_bytes(1 << 52, PAGE_SHIFT), Some(u64::MAX));
    assert_eq!(max_bytes(u64::MAX - 1, PAGE_SHIFT), Some(u64::MAX));
}

#[test]
fn pages_to_bytes_converts_and_saturates() {
    assert_eq!(pages_to_bytes(0, PAGE_SHIFT), 0);
    assert_eq!(pages_to_bytes(1, PAGE_SHIFT), 4096);
    assert_eq!(pages_to_bytes(5, 16), 5 << 16);
    assert_eq!(pages_to_bytes(7, 0), 7);
    assert_eq!(
        pages_to_bytes(u64::MAX >> 12, PAGE_SHIFT),
        (u64::MAX >> 12) << 12
    );
    assert_eq!(pages_to_bytes((u64::MAX >> 12) + 1, PAGE_SHIFT), u64::MAX);
    assert_eq!(pages_to_bytes(u64::MAX, PAGE_SHIFT), u64::MAX);
    assert_eq!(pages_to_bytes(u64::MAX, 16), u64::MAX);
    assert_eq!(pages_to_bytes(u64::MAX, 0), u64::MAX);
}

#[test]
fn parse_then_display_round_trips_to_whole_pages() {
    let values: &[u64] = &[
        0,
        1,
        4095,
        4096,
        4097,
        8191,
        12_288,
        1 << 20,
        (1 << 30) + 1,
        123_456_789,
        1 << 40,
        (1 << 60) - 1,
        1 << 63,
        u64::MAX - 4096,
        u64::MAX - 1,
        u64::MAX,
    ];
    for &b in values {
        let pages = parse_max(b.to_string().as_bytes(), PAGE_SHIFT).unwrap();
        assert_eq!(
            max_bytes(pages, PAGE_SHIFT),
            Some((b / 4096) * 4096),
            "bytes {b}"
        );
    }
    // Suffixed values round-trip to their exact byte count.
    for (input, bytes) in [
        ("4K", 4096u64),
        ("3M", 3 << 20),
        ("7G", 7 << 30),
        ("2E", 2 << 60),
    ] {
        let pages = parse_max(input.as_bytes(), PAGE_SHIFT).unwrap();
        assert_eq!(max_bytes(pages, PAGE_SHIFT), Some(bytes), "input {input}");
    }
}
