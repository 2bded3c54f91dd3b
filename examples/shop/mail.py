"""Stand-ins for outgoing mail and archive storage (not Celery code)."""


def mail_report(day, total):
    return None


def upload_to_archive(export_id, payload):
    return None
