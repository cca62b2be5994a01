"""The member's own rights over their data (PIPL): a copy of everything held (`export`) and erasure (`erasure`).

Consent records are written by the capabilities that take the consent (members/consents.py); this package
reads them for the export and keeps them through an erasure.
"""
