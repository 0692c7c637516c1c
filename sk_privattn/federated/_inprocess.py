"""Run a ServerApp and a ClientApp in this process, one site after the other, without Ray.

Flower 1.42's simulation engine has one backend, Ray, which starts a worker
process per site that imports torch again (tens of seconds on a small
machine). This Grid delivers the ServerApp's messages to the same ClientApp
objects directly, as the simulation engine does, with one Flower Context per
site, and turns an exception of a ClientApp into an error reply, as the
SuperNode does; the apps cannot tell the difference.
"""

import copy
import uuid

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

__all__ = ["InProcessGrid", "run_in_process"]

class InProcessGrid(Grid):
    """A Flower Grid whose nodes are ``client_app`` called in this process.

    Parameters
    ----------
    client_app : flwr.clientapp.ClientApp
    n_nodes : int
        Node ``i`` gets ``node_config={"partition-id": i, "num-partitions": n_nodes}``,
        as in Flower's simulation engine.
    """

    def __init__(self, client_app, n_nodes, run_id=1):
        self.client_app = client_app
        self._run = Run.create_empty(run_id)
        self._node_ids = list(range(1, n_nodes + 1))
        self.contexts = {
            node_id: Context(
                run_id=run_id,
                node_id=node_id,
                node_config={"partition-id": index, "num-partitions": n_nodes},
                state=RecordDict(),
                run_config={},
            )
            for index, node_id in enumerate(self._node_ids)
        }
        self._replies = {}

    def set_run(self, run):
        self._run = run

    @property
    def run(self):
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self):
        return list(self._node_ids)

    def push_messages(self, messages):
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid.uuid4())
            message.metadata.__dict__["_run_id"] = self._run.run_id
            node_id = message.metadata.dst_node_id
            server_node_id, TaskIdentity.node_id = TaskIdentity.node_id, node_id
            try:
                # A copy, as a real node receives: mods such as secaggplus_mod
                # consume the content, which the messages of a round share.
                reply = self.client_app(message=copy.deepcopy(message), context=self.contexts[node_id])
            except Exception as exc:  # reported to the server, as a SuperNode does
                reason = f"{type(exc)}:<'{exc}'>"
                reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)
            finally:
                TaskIdentity.node_id = server_node_id
            reply.metadata.__dict__["_message_id"] = str(uuid.uuid4())
            reply.metadata.__dict__["_src_node_id"] = node_id
            self._replies[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids):
        return [self._replies.pop(message_id) for message_id in message_ids if message_id in self._replies]

    def send_and_receive(self, messages, *, timeout=None):
        return self.pull_messages(self.push_messages(messages))


def run_in_process(server_app, client_app, n_sites):
    """Run ``server_app`` against ``n_sites`` in-process nodes of ``client_app``."""
    grid = InProcessGrid(client_app, n_sites)
    context = Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config={})
    # The identity that Flower's Message constructor reads, as the SuperLink sets it.
    saved = TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, grid.run.run_id, SUPERLINK_NODE_ID
    try:
        server_app(grid, context)
    finally:
        TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved
