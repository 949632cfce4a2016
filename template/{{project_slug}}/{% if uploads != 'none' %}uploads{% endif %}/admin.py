from django.contrib import admin

from .models import Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """Who uploaded what, and when; staff cannot change a file, or download it from here."""

    list_display = ["name", "owner", "content_type", "size", "created"]
    list_filter = ["content_type"]
    search_fields = ["id", "owner__email"]
    readonly_fields = ["id", "owner", "name", "extension", "content_type", "size", "created"]
    exclude = ["file"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
