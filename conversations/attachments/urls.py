from django.urls import path

from conversations.attachments import views

urlpatterns = [
    path("widget/attachments", views.visitor_upload, name="widget-attachment-upload"),
    path(
        "agent/api/conversations/<int:conversation_id>/attachments",
        views.agent_upload,
        name="agent-attachment-upload",
    ),
    path(
        "attachments/<int:attachment_id>/<str:filename>",
        views.attachment_download,
        name="attachment-download",
    ),
]
