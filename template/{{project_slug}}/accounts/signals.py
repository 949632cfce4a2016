from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from . import sessions


@receiver(user_logged_in)
def start_session_clock(sender, request, user, **kwargs) -> None:
    # Django has already given the session a new key (no fixation); the timeouts count from here.
    if request is not None:
        sessions.start(request)
