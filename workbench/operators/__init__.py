"""Operators: CSV bulk enablement (validate -> review -> apply), per-operator switches, export,
verification against Exchange.

    from workbench.operators.csv_import import import_operators, ImportReview
    from workbench.operators.export import export_operators
    from workbench.operators.switches import set_contact_sync
    from workbench.operators.verify import verify_operators
"""
