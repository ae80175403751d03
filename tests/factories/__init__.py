"""factory_boy factories for the collection side."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from surveys.models import Coalition, Member, Sector, Wave


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct-horse-battery")


class CoalitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coalition

    slug = factory.Sequence(lambda n: f"coalition-{n}")
    name = factory.Sequence(lambda n: f"Coalition {n}")


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sector

    coalition = factory.SubFactory(CoalitionFactory)
    slug = factory.Sequence(lambda n: f"sector-{n}")
    names = factory.LazyAttribute(lambda o: {"en": o.slug.title(), "es": o.slug.title()})
    position = factory.Sequence(int)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    coalition = factory.SubFactory(CoalitionFactory)
    sector = factory.LazyAttribute(lambda o: o.coalition.sectors.order_by("position").first())
    email = factory.Sequence(lambda n: f"person{n}@example.org")


class WaveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Wave

    coalition = factory.SubFactory(CoalitionFactory)
    label = factory.Sequence(lambda n: f"2026 Q{n}")
    opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=20))
    reminder_days = factory.LazyFunction(lambda: [7, 14])
