"""Passwords any modern policy refuses (NIST SP 800-63B: check against common and context-specific values)."""

from __future__ import annotations

# Among the most common passwords in public breach lists, those of 8+ characters (shorter ones fail anyway).
COMMON = frozenset(
    """
    password password1 password12 password123 password1234 password! passw0rd p@ssw0rd p@ssword passwort
    12345678 123456789 1234567890 0123456789 12341234 87654321 987654321 123123123 11223344 12121212
    11111111 00000000 22222222 33333333 44444444 55555555 66666666 77777777 88888888 99999999 1q2w3e4r
    1q2w3e4r5t 1qaz2wsx 1qazxsw2 zaq12wsx qazwsxedc q1w2e3r4 q1w2e3r4t5 qwertyui qwertyuiop qwerty12
    qwerty123 1234qwer asdf1234 asdfasdf asdfghjk asdfghjkl zxcvbnm1 zxcvbnmm abc12345 abcd1234
    aa123456 iloveyou iloveyou1 sunshine princess football football1 baseball baseball1 superman
    superman1 starwars whatever welcome1 welcome123 letmein1 letmeinnow trustno1 changeme changeme1
    michelle computer corvette mercedes internet samantha jennifer jordan23 hello123 master12 shadow12
    charlie1 michael1 monkey123 dragon12 admin123 administrator test1234 testtest guest123 demo1234
    cinema123 tickets1 secret12 secret123 passpass
    """.split()
)


def password_problem(password: str, username: str) -> str | None:
    """Why `password` is refused for `username`, or None when it is acceptable."""
    if not password.strip():
        return "The password cannot be only spaces."
    folded = password.casefold()
    if folded == username.casefold():
        return "The password cannot be the username."
    if folded in COMMON:
        return "This password is too common; choose another."
    return None
