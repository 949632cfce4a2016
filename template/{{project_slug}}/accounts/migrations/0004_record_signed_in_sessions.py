"""Record the sessions signed in before allauth.usersessions was installed.

The incident commands find a user's sessions through allauth.usersessions' rows
(accounts/devices.py); a session that was signed in before the rows existed would have none, and
would survive revoke_sessions until it expires. This reads every live session once, at the
upgrade, and records those signed in. Their client is unknown: the unspecified address, no
browser.
"""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import migrations
from django.utils import timezone

from ..devices import NO_ADDRESS


def record_sessions(apps, schema_editor):
    Session = apps.get_model("sessions", "Session")
    UserSession = apps.get_model("usersessions", "UserSession")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    recorded = set(UserSession.objects.values_list("session_key", flat=True))
    users = set(User.objects.values_list("pk", flat=True))
    rows = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        user_id = store.decode(session.session_data).get(SESSION_KEY)
        if session.session_key in recorded or user_id is None:
            continue
        pk = User._meta.pk.to_python(user_id)
        if pk in users:
            rows.append(
                UserSession(
                    session_key=session.session_key, user_id=pk, ip=NO_ADDRESS, user_agent=""
                )
            )
    UserSession.objects.bulk_create(rows, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_mfa_roles"),
        ("sessions", "0001_initial"),
        ("usersessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(record_sessions, migrations.RunPython.noop)]
