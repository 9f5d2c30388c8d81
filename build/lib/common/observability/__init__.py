"""Sentry for every process: SDK set-up (``sdk``), the breadcrumbs operators know (``breadcrumbs``), scrubbing
(``scrubbing``) and the production checklist (``checklist``)."""
