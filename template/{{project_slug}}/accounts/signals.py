from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from . import devices, sessions


@receiver(user_logged_in)
def start_session(sender, request, user, **kwargs) -> None:
    # Django has already given the session a new key (no fixation); the timeouts count from here,
    # and the session is recorded under that key.
    if request is not None:
        sessions.start(request)
        devices.record_sign_in(request, user)
