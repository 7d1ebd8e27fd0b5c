package ai.anvil.data.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's reversible map between bytes and printable characters ({@code bytes_to_unicode}): the 188 printable
 * Latin-1 bytes stand for themselves, the other 68 (controls, space, 0x7f-0xa0, 0xad) become U+0100..U+0143
 * in byte order, so a space is 'Ġ' and a newline 'Ċ'. Byte-level vocabularies are written in these characters.
 */
final class ByteLevel {
    /** byte (0..255) -> character. */
    static final char[] BYTE_TO_CHAR = new char[256];
    /** character -> byte, or -1; indexed up to U+0143. */
    static final int[] CHAR_TO_BYTE = new int[0x144];

    static {
        Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    /** The byte-level spelling of {@code bytes}. */
    static String encode(byte[] bytes, int from, int to) {
        char[] c = new char[to - from];
        for (int k = from; k < to; k++) {
            c[k - from] = BYTE_TO_CHAR[bytes[k] & 0xff];
        }
        return new String(c);
    }

    /** The bytes a byte-level token spells, or null when it holds a character outside the alphabet. */
    static byte[] decode(String token) {
        byte[] out = new byte[token.length()];
        for (int k = 0; k < token.length(); k++) {
            char c = token.charAt(k);
            if (c >= CHAR_TO_BYTE.length || CHAR_TO_BYTE[c] < 0) {
                return null;
            }
            out[k] = (byte) CHAR_TO_BYTE[c];
        }
        return out;
    }
}
