// The one char-code table: the ASCII bytes the parsers and encoders look for
// or write, by name. Byte loops compare buf[i] with these (no strings).
//
// A hot file binds the ones it uses to module constants once
// (`import * as chars` then `const { LF, SP } = chars`) instead of naming
// them in its loops: V8 reads an imported binding through its module cell,
// with a hole check, on every use, where a module constant costs nothing.
// Measured on framing + syslog scan of ~150-byte frames: 108 ns a frame
// with module constants, 147 with imported bindings.

export const HTAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SP = 0x20;
/** `"` */
export const DQUOTE = 0x22;
/** `%` */
export const PERCENT = 0x25;
/** `+` */
export const PLUS = 0x2b;
/** `-` */
export const DASH = 0x2d;
/** The syslog NILVALUE (`-`). */
export const NIL = 0x2d;
/** `.` */
export const DOT = 0x2e;
/** `/` */
export const SLASH = 0x2f;
/** `0`: a digit d is DIGIT_0 + d */
export const DIGIT_0 = 0x30;
export const DIGIT_1 = 0x31;
export const DIGIT_9 = 0x39;
/** `:` */
export const COLON = 0x3a;
/** `<` */
export const LT = 0x3c;
/** `=` */
export const EQ = 0x3d;
/** `>` */
export const GT = 0x3e;
/** `?` */
export const QUESTION = 0x3f;
/** `@` */
export const AT = 0x40;
export const UPPER_A = 0x41;
export const UPPER_Z = 0x5a;
/** `[` */
export const LBRACKET = 0x5b;
/** `\` */
export const BACKSLASH = 0x5c;
/** `]` */
export const RBRACKET = 0x5d;
/** `_` */
export const UNDERSCORE = 0x5f;
/** `a`; OR-ing an ASCII letter with CASE_BIT makes it lowercase */
export const LOWER_A = 0x61;
export const LOWER_F = 0x66;
export const LOWER_Z = 0x7a;
/** `~` */
export const TILDE = 0x7e;
export const DEL = 0x7f;
export const CASE_BIT = 0x20;
