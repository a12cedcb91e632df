"""Hunter's domain words, each defined once: the score buckets, the free-mail providers, the legal forms."""

from __future__ import annotations

# Free-mail providers, by the label in front of the public suffix ("gmail" in gmail.com,
# "bol" in bol.com.br), so that yahoo.com.br, hotmail.fr and live.com are all caught.
FREE_MAIL_LABELS = frozenset(
    {
        "gmail", "googlemail", "hotmail", "outlook", "live", "msn", "yahoo", "ymail", "rocketmail",
        "icloud", "me", "mac", "aol", "bol", "uol", "terra", "ig", "globo", "globomail", "r7",
        "zipmail", "oi", "superig", "pop", "click21", "itelefonica", "brturbo", "ibest", "vivo",
        "protonmail", "proton", "pm", "gmx", "yandex", "mail", "zoho", "tutanota", "hushmail",
        "orange", "wanadoo", "free", "laposte", "sfr", "neuf", "bbox", "numericable", "aliceadsl",
        "club-internet", "voila", "cegetel", "libero", "web", "qq", "163",
    }
)
