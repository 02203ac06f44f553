"""The clinical core of mtxmonitor: plain Python, no Django.

Everything that decides a dose, a date or an alert lives here as pure functions over small
dataclasses, so it can be tested exhaustively and fast and reviewed by a clinician without
reading the web code. Models, serializers, admin and Celery tasks are thin shells around it.

Facts, thresholds and their sources: ``shared/CLINICAL_REFERENCE.md`` (cited as "REF §n").
"""
