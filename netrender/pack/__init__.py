# SPDX-License-Identifier: GPL-3.0-or-later
"""What a client does to a .blend before sending it: packing with blender-asset-tracer, hashing (with a
cache), listing what is missing, and the request that creates the job.

``netrender.client`` sends what this decides. It may import ``common``, never
the farm, the server or the node.
"""
