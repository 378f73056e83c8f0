from django.db import models


class Shop(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="orders")
    number = models.CharField(max_length=20)
    total = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    status = models.CharField(max_length=20, default="new")

    def __str__(self) -> str:
        return self.number


class Note(models.Model):
    text = models.CharField(max_length=200)
    shop = models.ForeignKey(Shop, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return self.text
