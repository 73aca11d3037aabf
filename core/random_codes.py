"""Random codes and references from the OS's CSPRNG, made on every call of the hot paths (a till
redemption's reference, an issue's pointsReferenceId, a referral code)."""

import secrets


def random_code(alphabet: str, length: int) -> str:
    """``length`` characters of ``alphabet``, uniformly at random: one draw of a number below
    ``len(alphabet) ** length``, written in that base. The same distribution as one
    ``secrets.choice`` per character (each code of the space equally likely), in one draw."""
    base = len(alphabet)
    number = secrets.randbelow(base**length)
    characters = []
    for _ in range(length):
        number, digit = divmod(number, base)
        characters.append(alphabet[digit])
    return "".join(characters)
