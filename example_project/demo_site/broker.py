"""kombu's filesystem transport, writing each message atomically.

kombu's filesystem channel creates a message file under its final name and
then writes into it. A worker polling the folder at that moment can take the
still-empty file, fail to decode it and stop, and the message is lost. Here a
message is written under a temporary name, which readers ignore, and renamed
into place, so a reader only ever sees whole messages.

Selected in settings.py with ``CELERY_BROKER_TRANSPORT`` when no
``CELERY_BROKER_URL`` is set.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The name kombu uses: readers take "<ms>_<uuid>.<queue>.msg" in name order.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temporary = final + ".tmp"  # not "*.<queue>.msg": no reader takes it
        try:
            with open(temporary, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
