"""IP enrichment: every address in a hit, classified from one versioned IANA table.

The same table produces the rules' "not public" CIDR list, so queries and alerts never
disagree about what a public address is.
"""

from eqlwatch.enrich.info import IpInfo
from eqlwatch.enrich.rows import UserRange
from eqlwatch.enrich.table import CATEGORIES, IpTable, load_ip_table, non_public_cidr_match
from eqlwatch.enrich.walk import Enricher, Enrichment
from eqlwatch.enrich.walker import is_ip_field

__all__ = [
    "CATEGORIES",
    "Enricher",
    "Enrichment",
    "IpInfo",
    "IpTable",
    "UserRange",
    "is_ip_field",
    "load_ip_table",
    "non_public_cidr_match",
]
