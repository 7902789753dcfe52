"""`grok2api doctor`: one account checked against grok.com end to end, step by step (plan.py lists the
requests up front, steps.py holds one function per upstream operation, run.py runs them and words the
results, report.py prints them). Used by the command line and the admin's "Upstream check".

Never pool, storage, api or admin: callers hand it a GrokClient (`own_client` makes one on the gateway's
config and egress) and a token.
May import: upstream, catalog, gateway.model_check.
"""

from .plan import GROUPS, ORDER, Options, Step, budget, plan
from .report import plan_text, table_text
from .run import WORDS, Doctor, FixedEgress, Report, Result, own_client, word_of
from .steps import egress_label

__all__ = ["GROUPS", "ORDER", "WORDS", "Doctor", "Options", "Report", "Result", "Step", "budget", "egress_label",
           "FixedEgress", "own_client", "plan", "plan_text", "table_text", "word_of"]
