//! The `x-amz-crc32` response header.
//!
//! DynamoDB puts the IEEE CRC-32 (the zlib one, not CRC-32C) of every response body in
//! `x-amz-crc32`, written in decimal; AWS SDKs check it and retry on a mismatch, so Shoal
//! must send the same.

/// Name of the response header that carries [`body_crc32`].
pub const CRC32_HEADER: &str = "x-amz-crc32";

/// The IEEE CRC-32 of `body`, to write in decimal as `x-amz-crc32`.
pub fn body_crc32(body: &[u8]) -> u32 {
    crc32fast::hash(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_ieee_polynomial() {
        assert_eq!(body_crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(body_crc32(b""), 0);
        assert_eq!(body_crc32(b"123456789").to_string(), "3421780262");
    }
}
