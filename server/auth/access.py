"""Who may touch which cart. Pure rules over the caller's Identity.

A cart belongs to one collection (tenant) and one user. ROLE_USER reaches only its own carts in
its own collection; ROLE_CART_ADMIN any cart of its collection; ROLE_SUPER_ADMIN any cart. A cart
of another collection is NOT_FOUND (its existence is not revealed); another user's cart in the
same collection is PERMISSION_DENIED.
"""

from __future__ import annotations

from server.auth.identity import Identity, Role
from server.domain.errors import NotFound, PermissionDenied
from server.domain.model import Cart


def check_caller(identity: Identity) -> None:
    if identity.act_on_behalf_of_user and not identity.is_admin:
        raise PermissionDenied("only ROLE_CART_ADMIN or ROLE_SUPER_ADMIN act on behalf of a user")


def authorize_cart(identity: Identity, cart: Cart) -> None:
    authorize_owner(identity, cart.collection_id, cart.user_id, "cart", cart.id)


def authorize_owner(
    identity: Identity, collection_id: int, user_id: str, resource: str, key: object
) -> None:
    """The rule of authorize_cart, for a resource owned like a cart (a basket)."""
    check_caller(identity)
    if not identity.is_super_admin and collection_id != identity.collection_id:
        raise NotFound(resource, key)
    if not identity.is_admin and user_id != identity.user_id:
        raise PermissionDenied(f"{resource} {key} belongs to another user")


def new_cart_owner(identity: Identity) -> tuple[str, int]:
    """(user_id, collection_id) of a new cart: the user acted for, else the caller."""
    check_caller(identity)
    return identity.subject_user, identity.collection_id


def listing_scope(identity: Identity, collection_id: int, user_id: str) -> tuple[int, str]:
    """The (collection, user) a ListCarts may read; empty request fields default to the caller's."""
    check_caller(identity)
    collection_id = collection_id or identity.collection_id
    user_id = user_id or identity.subject_user
    if collection_id != identity.collection_id and not identity.is_super_admin:
        raise PermissionDenied("carts of another collection are not yours to list")
    if user_id != identity.user_id and not identity.is_admin:
        raise PermissionDenied("ROLE_USER may list only its own carts")
    return collection_id, user_id


def authorize_catalog_admin(identity: Identity, collection_id: int) -> None:
    """Loading a collection's catalog: ROLE_CART_ADMIN of that collection, or ROLE_SUPER_ADMIN
    (the only one who may load the default catalog, collection 0)."""
    if identity.is_super_admin:
        return
    if Role.CART_ADMIN not in identity.roles or collection_id != identity.collection_id:
        raise PermissionDenied(
            f"the catalog of collection {collection_id} is loaded by its ROLE_CART_ADMIN or a "
            "ROLE_SUPER_ADMIN"
        )
