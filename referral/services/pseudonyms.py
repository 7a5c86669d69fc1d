"""Random pseudonyms `XXXX-XXXX-X`: Crockford base32 with a Luhn mod 32 check character.

Luhn mod N catches every single-character substitution (and most adjacent swaps), and
keeps the check character inside the same 32-symbol alphabet, so a code can be read
aloud and written by hand. Codes are random: never derived from personal data.
"""

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
N = len(ALPHABET)
VALUE = {char: index for index, char in enumerate(ALPHABET)}
PAYLOAD_LENGTH = 8
CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})
SEPARATORS = re.compile(r"[\s\-_.]+")


def check_character(payload: str) -> str:
    """Luhn mod N over the payload (rightmost character doubled first)."""
    total = 0
    factor = 2
    for char in reversed(payload):
        addend = factor * VALUE[char]
        addend = addend // N + addend % N
        total += addend
        factor = 1 if factor == 2 else 2
    return ALPHABET[(N - total % N) % N]


def is_valid(code: str) -> bool:
    """A canonical code (no dash) whose last character checks the others."""
    return (
        len(code) == PAYLOAD_LENGTH + 1
        and all(char in VALUE for char in code)
        and check_character(code[:-1]) == code[-1]
    )


def generate() -> str:
    """A new random pseudonym in canonical (stored) form, without dashes."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_LENGTH))
    return payload + check_character(payload)


def normalize(text: str) -> str | None:
    """Forgiving parse: any case, dashes or spaces, O for 0, I or L for 1.

    Returns the canonical code, or None when it is not a valid pseudonym."""
    if not isinstance(text, str):
        return None
    code = SEPARATORS.sub("", text).upper().translate(CONFUSABLES)
    return code if is_valid(code) else None


def display(code: str) -> str:
    """Canonical form as people see it: `XXXX-XXXX-X`."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


SLIP_PAYLOAD_LENGTH = 7
SLIP_PREFIX = re.compile(r"^R(?=[0-9A-Z]{8}$)")


def generate_slip_code() -> str:
    """A referral slip code in stored form: 7 random characters and a check character."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(SLIP_PAYLOAD_LENGTH))
    return payload + check_character(payload)


def normalize_slip_code(text: str) -> str | None:
    """Forgiving parse of `R-XXXX-XXXX` (prefix optional); None unless the check matches."""
    if not isinstance(text, str):
        return None
    code = SEPARATORS.sub("", text).upper()
    code = SLIP_PREFIX.sub("", code).translate(CONFUSABLES)
    valid = (len(code) == SLIP_PAYLOAD_LENGTH + 1 and all(char in VALUE for char in code)
             and check_character(code[:-1]) == code[-1])
    return code if valid else None


def display_slip_code(code: str) -> str:
    """Stored slip code as printed on the slip: `R-XXXX-XXXX`."""
    return f"R-{code[:4]}-{code[4:]}"
