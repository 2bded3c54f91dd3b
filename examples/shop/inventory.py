"""Stand-ins for the shop's Django models and network helpers (not Celery code)."""


class _Manager:
    def get(self, **lookup):
        raise NotImplementedError

    def filter(self, **lookup):
        return []


class Device:
    objects = _Manager()
    management_ip = "192.0.2.1"

    def ping(self):
        return True


class CodeBundle:
    objects = _Manager()


def probe_neighbours(ip):
    return []
