"""Hunter's domain words, each defined once: the score buckets, the free-mail providers, the legal forms."""

from __future__ import annotations

from typing import Literal, get_args

# A lead's bucket by its score: hot >= 80, warm 60-79, nurture 40-59, parked < 40 (scorer.logic.bucket_for).
Bucket = Literal["hot", "warm", "nurture", "parked"]
BUCKETS: tuple[Bucket, ...] = get_args(Bucket)

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

# Legal forms at the end of a company name ("ACME SISTEMAS LTDA - ME"): the forms both uses drop.
LEGAL_FORMS = frozenset({"ltda", "me", "epp", "eireli", "sa", "cia", "sas", "sasu", "sarl", "eurl", "slu"})
# Comparing legal names (the cleaner's dedup) also drops the single letters of "S A" / "S/A" and "EI".
LEGAL_FORMS_IN_NAME_COMPARISON = LEGAL_FORMS | {"s", "a", "ei"}
# Guessing a site's domain from a name (the enricher) also drops these words wherever they are.
LEGAL_WORDS_IN_DOMAIN_GUESSES = LEGAL_FORMS | {
    "ltd", "s/a", "s.a", "s.a.", "ss", "companhia", "mei", "snc", "sci", "inc", "llc", "limitada", "microempresa",
    "empresa", "individual",
}
