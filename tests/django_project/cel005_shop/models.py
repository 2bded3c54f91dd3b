from django.db import models


class Order(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        app_label = "cel005_shop"
