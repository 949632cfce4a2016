from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = __package__
    label = "backups"
    verbose_name = "Backups"
