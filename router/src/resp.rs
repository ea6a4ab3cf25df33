//! The RESP2 request encoder: a command as an array of bulk strings,
//! `*<n>\r\n` then `$<len>\r\n<arg>\r\n` per argument. Written once here,
//! the crate every corekv client, test, benchmark and fuzz target can
//! depend on (it has no dependencies), and used by all of them.

/// Appends `args` to `out` as one RESP2 request.
pub fn push_request(out: &mut Vec<u8>, args: &[&[u8]]) {
    let bytes: usize = args.iter().map(|a| a.len() + 16).sum();
    out.reserve(bytes + 16);
    push_header(out, b'*', args.len());
    for arg in args {
        push_header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// `args` as one RESP2 request.
pub fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    push_request(&mut out, args);
    out
}

/// `<kind><n>\r\n`, without a formatting machinery.
fn push_header(out: &mut Vec<u8>, kind: u8, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push(kind);
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_arrays_of_bulk_strings() {
        assert_eq!(request(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        assert_eq!(request(&[]), b"*0\r\n");
        let value = vec![b'\n'; 12];
        assert_eq!(
            request(&[&b"SET"[..], b"", &value]),
            [
                &b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$12\r\n"[..],
                &value,
                b"\r\n"
            ]
            .concat()
        );
        let mut out = b"x".to_vec();
        push_request(&mut out, &[b"PING"]);
        push_request(&mut out, &[&[0u8; 1234]]);
        assert!(out.starts_with(b"x*1\r\n$4\r\nPING\r\n*1\r\n$1234\r\n\0"));
        assert_eq!(out.len(), 1 + 14 + 11 + 1234 + 2);
    }
}
