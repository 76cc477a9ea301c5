// Seed 002's two "Example Handler"s, registered on a StorefrontConnection. The handler bodies are
// the seed's, unchanged; the functions they call are the page's, given by the caller.
import type { StorefrontConnection } from "../src/index.js";

export interface Page {
  updateCartBadge(count: number): void;
  updatePriceDisplay(total: number, discountedTotal: number, promoCode: string | null): void;
  renderCartItems(items: unknown[]): void;
  clearLocalBasket(): void;
  showOrderConfirmation(): void;
  showPromoCodeError(text: string): void;
  showNotification(text: string): void;
  generateBasketId(): string;
}

export function registerSeedHandlers(
  connection: StorefrontConnection,
  page: Page,
  localStorage: { setItem(key: string, value: string): void },
  salesChannelId: string,
): void {
  const { updateCartBadge, updatePriceDisplay, renderCartItems, clearLocalBasket } = page;
  const { showOrderConfirmation, showPromoCodeError, showNotification, generateBasketId } = page;

  connection.on("BasketUpdated", (basket) => {
    // Update item count
    updateCartBadge(basket.items.length);

    // Calculate totals
    let total = 0;
    let discountedTotal = 0;

    basket.items.forEach((item) => {
      total += item.retailPrice.amount;
      discountedTotal += item.quotedPrice.amount;
    });

    // Update UI
    updatePriceDisplay(total, discountedTotal, basket.promoCode);
    renderCartItems(basket.items);

    // Handle completed orders
    if (basket.stage === "Settled") {
      clearLocalBasket();
      showOrderConfirmation();
    }
  });

  connection.on("SomethingHappened", async (error) => {
    switch (error.errorCode) {
      case "PromoCodeDoesntExist":
        showPromoCodeError("This promo code is invalid or has expired");
        break;

      case "UnavailableProduct":
        showNotification("This product is currently unavailable");
        break;

      case "OrderWasProcessed":
        // Basket was already completed, create a new one
        const newBasketId = generateBasketId();
        localStorage.setItem("basketId", newBasketId);
        await connection.invoke("CreateBasket", newBasketId, salesChannelId);
        showNotification(
          "Your previous order was completed. Starting a new basket.",
        );
        break;

      default:
        console.error("Unexpected error:", error);
        showNotification("An error occurred. Please try again.");
    }
  });
}
