"""Shapes of text fields the seed implies: currency codes, e-mail addresses, phone numbers, and
the one shape that must never be stored: a payment card number.
"""

from __future__ import annotations

import re

# ISO 4217 active codes (2024 list), plus the funds and precious-metal codes clients may send.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES
    KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XCD XCG XDR XOF XPD XPF XPT XSU
    XUA YER ZAR ZMW ZWG ZWL
    """.split()
)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{4,30}[0-9]")
# A run of 13 to 19 digits, optionally grouped by single spaces or dashes (as cards are printed).
DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,}(?![0-9])")


def problem_with(shape: str, value: str) -> str | None:
    """What is wrong with `value` for `shape`, or None. Blank values are the caller's business."""
    if shape == "currency" and value not in ISO_4217:
        return "must be an ISO 4217 currency code such as USD"
    if shape == "email" and not EMAIL.fullmatch(value):
        return "must be an e-mail address"
    if shape == "phone" and not PHONE.fullmatch(value):
        return "must be a phone number (digits, optional +, spaces, dashes, dots, parentheses)"
    if shape == "reference" and contains_card_number(value):
        return "looks like a payment card number; store only the provider's references"
    return None


def contains_card_number(text: str) -> bool:
    """True when `text` holds a Luhn-valid run of 13 to 19 digits."""
    for match in DIGIT_RUN.finditer(text):
        digits = re.sub(r"[ \-]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
