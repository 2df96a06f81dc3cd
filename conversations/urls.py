from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.demo_shop, name="demo-shop"),
    path("widget/", views.widget_frame, name="widget-frame"),
    path("widget/config.json", views.widget_config, name="widget-config"),
]
